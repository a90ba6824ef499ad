import {
  AdaptiveKlController,
  FixedKlController,
  createKlController,
  restoreKlController,
  type KlControllerState,
} from '../../ml/kl-controller';
import { PRESETS } from '../../spec/run-config';

describe('AdaptiveKlController (Ziegler et al. 2019, TRL 0.7)', () => {
  it('follows hand-computed values over several updates', () => {
    // β0 = 0.2, target 6, horizon 10000; mult = 1 + clip(KL/6 − 1, ±0.2) · n / 10000.
    const ctl = new AdaptiveKlController(0.2, 6, 10000);
    // KL 9, n 128: error 0.5 → clipped 0.2; mult 1.00256; β = 0.200512
    ctl.update(9, 128);
    expect(ctl.value).toBeCloseTo(0.200512, 12);
    // KL 6.6, n 128: error 0.1 (inside the clip); mult 1.00128; β = 0.20076865536
    ctl.update(6.6, 128);
    expect(ctl.value).toBeCloseTo(0.20076865536, 12);
    // KL 0, n 128: error −1 → −0.2; mult 0.99744; β = 0.200254687602278
    ctl.update(0, 128);
    expect(ctl.value).toBeCloseTo(0.200254687602278, 12);
    // KL 3, n 5000: error −0.5 → −0.2; mult 1 − 0.2·0.5 = 0.9; β = 0.18022921884205
    ctl.update(3, 5000);
    expect(ctl.value).toBeCloseTo(0.18022921884205, 12);
    // KL equal to the target leaves β unchanged.
    ctl.update(6, 128);
    expect(ctl.value).toBeCloseTo(0.18022921884205, 12);
  });

  it('setTarget changes the direction of the next update; setValue overrides β', () => {
    const ctl = new AdaptiveKlController(0.1, 6, 10000);
    ctl.setTarget(2);
    // KL 3 vs target 2: error 0.5 → 0.2; n = horizon → mult 1.2.
    ctl.update(3, 10000);
    expect(ctl.value).toBeCloseTo(0.12, 12);
    ctl.setValue(0.5);
    expect(ctl.value).toBe(0.5);
    expect(ctl.target).toBe(2);
  });

  it('restores exactly from its JSON state and then continues identically', () => {
    const a = new AdaptiveKlController(0.2, 6, 10000);
    a.update(8, 64);
    a.update(1, 64);
    const state = JSON.parse(JSON.stringify(a.getState())) as KlControllerState;
    const b = restoreKlController(state);
    expect(b.value).toBe(a.value);
    for (const kl of [7, 2, 12]) {
      a.update(kl, 64);
      b.update(kl, 64);
      expect(b.value).toBe(a.value);
    }
    expect(b.getState()).toEqual(a.getState());
  });

  it('rejects a non-finite KL, a negative β and a state of the other kind', () => {
    const ctl = new AdaptiveKlController(0.2, 6, 10000);
    expect(() => ctl.update(NaN, 16)).toThrow(RangeError);
    expect(() => ctl.update(Infinity, 16)).toThrow(RangeError);
    expect(ctl.value).toBe(0.2);
    expect(() => ctl.setValue(-1)).toThrow(RangeError);
    expect(() => ctl.setTarget(0)).toThrow(RangeError);
    expect(() => ctl.setState({ kind: 'fixed', value: 0.1, target: 6, horizon: 10000 })).toThrow(TypeError);
  });
});

describe('FixedKlController', () => {
  it('never changes β on update but accepts setValue', () => {
    const ctl = new FixedKlController(0.05, 6, 10000);
    ctl.update(100, 128);
    ctl.update(0, 128);
    expect(ctl.value).toBe(0.05);
    ctl.setValue(0.1);
    expect(ctl.value).toBe(0.1);
    expect(ctl.getState()).toEqual({ kind: 'fixed', value: 0.1, target: 6, horizon: 10000 });
  });
});

describe('createKlController', () => {
  it('builds the controller the PPO config asks for, starting at initKlCoef', () => {
    const ppo = PRESETS.quick.ppo;
    const adaptive = createKlController(ppo);
    expect(adaptive.kind).toBe('adaptive');
    expect(adaptive.value).toBe(ppo.initKlCoef);
    expect(adaptive.target).toBe(ppo.klTarget);
    const fixed = createKlController({ ...ppo, adaptiveKl: false });
    expect(fixed.kind).toBe('fixed');
    fixed.update(ppo.klTarget * 10, ppo.batchSize);
    expect(fixed.value).toBe(ppo.initKlCoef);
  });
});
