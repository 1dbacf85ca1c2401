// The explorer server's refusals: an error that carries its HTTP status, so that a handler states once why a
// request is refused and the router turns it into a 4xx answer with that message (the server keeps serving).

export class HttpError extends Error {
  constructor(readonly status: number, message: string) {
    super(message);
  }
}

/** A JSON answer. */
export function json(value: unknown, status = 200): Response {
  return new Response(JSON.stringify(value), {
    status,
    headers: { "content-type": "application/json; charset=utf-8" },
  });
}

/** The JSON answer for an error: `{ error: message }`, with its status (500 for an unexpected error). */
export function errorResponse(e: unknown): Response {
  if (e instanceof HttpError) return json({ error: e.message }, e.status);
  return json({ error: `internal error: ${(e as Error)?.message ?? String(e)}` }, 500);
}
