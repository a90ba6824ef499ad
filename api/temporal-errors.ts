/**
 * Recognising a Temporal server that is down or too slow to answer within the API's RPC deadline
 * (api/run-workflows withDeadline), by shape: the SDK throws the gRPC error as it is, or wrapped in
 * a ServiceError whose `cause` carries the status code. Such a request is worth retrying, so it is
 * a 503 with Retry-After like an unreachable database, never a 500.
 */

/** gRPC status codes (https://grpc.github.io/grpc/core/md_doc_statuscodes.html). */
const GRPC_DEADLINE_EXCEEDED = 4;
const GRPC_UNAVAILABLE = 14;

export function isTemporalUnavailable(err: unknown): boolean {
  const code = (e: unknown) => (e as { code?: unknown } | null)?.code;
  const cause = (err as { cause?: unknown } | null)?.cause;
  return [code(err), code(cause)].some((c) => c === GRPC_DEADLINE_EXCEEDED || c === GRPC_UNAVAILABLE);
}
