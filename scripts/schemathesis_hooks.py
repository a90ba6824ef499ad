"""schemathesis hooks for test/api/schemathesis.test.ts (loaded with SCHEMATHESIS_HOOKS=scripts.schemathesis_hooks).

The feedback import route takes application/x-ndjson (api/routes/feedback-bulk.ts), which schemathesis
cannot serialize by itself: its OpenAPI schema describes one line, so each generated value is sent
as one JSON line (bytes are sent as they are, for the negative cases schemathesis makes of them).
"""
import json

import schemathesis


@schemathesis.serializer("application/x-ndjson")
def ndjson_line(ctx, value):
    if isinstance(value, bytes):
        return value
    return (json.dumps(value) + "\n").encode("utf-8")
