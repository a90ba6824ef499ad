/**
 * The local directory of a run's Hugging Face base: the API-resolved `baseModelDir`, or the
 * hub snapshot of `baseModel` (hub/hf-hub: downloaded and verified into RLHF_HF_CACHE on the
 * worker that needs it, a cache hit afterwards). Activities then load it as any baseModelDir.
 */
import { log as temporalLog } from '@temporalio/activity';
import { downloadHubConfig, downloadHubModel, type HubModelRef, type HubProgress } from '../hub/hf-hub';

export interface BaseModelSource {
  baseModelDir?: string;
  baseModel?: HubModelRef;
}

/** Logs a hub download's progress about every 10 % of each file (the stderr bar is for terminals). */
function progressLogger(): (p: HubProgress) => void {
  const lastDecile = new Map<string, number>();
  return (p) => {
    if (p.total === undefined || p.total === 0) return;
    const decile = Math.floor((10 * p.received) / p.total);
    if ((lastDecile.get(p.file) ?? -1) >= decile) return;
    lastDecile.set(p.file, decile);
    temporalLog.info('base model download', { file: p.file, received: p.received, total: p.total });
  };
}

/**
 * `what` 'config': only config.json is needed (resolveConfig shapes the run from it); 'model':
 * the whole snapshot (weights and tokenizer). Undefined when the run has no base.
 */
export async function baseModelDirOf(src: BaseModelSource, what: 'config' | 'model'): Promise<string | undefined> {
  if (src.baseModelDir !== undefined) return src.baseModelDir;
  if (src.baseModel === undefined) return undefined;
  const opts = { progressBar: false, onProgress: progressLogger() };
  return what === 'config' ? downloadHubConfig(src.baseModel, opts) : downloadHubModel(src.baseModel, opts);
}
