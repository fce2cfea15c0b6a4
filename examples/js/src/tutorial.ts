// PyTorch's autograd tutorial against gradserve, from Node.js.
//
// The request and response types come from the server's own /openapi.json (openapi-typescript
// writes src/schema.d.ts: `npm run gen`); openapi-fetch makes the calls, so a path, a body
// field or a response field the document does not have is a compile error.
//
//   npm ci && npm run gen && npm run build && npm start -- http://127.0.0.1:8000
//
// It prints one "key: JSON" line per result; tests/e2e/test_js_example.py compares them with
// what the Python client computes.

import createClient from "openapi-fetch";
import type { components, paths } from "./schema.js";

type TensorData = components["schemas"]["TensorJSON"] | components["schemas"]["TensorB64"];
type Problem = components["schemas"]["Problem"];

const baseUrl = process.argv[2] ?? process.env.GRADSERVE_URL ?? "http://127.0.0.1:8000";

/** The body of a successful call; anything else throws with the problem's code. */
function ok<T>(result: { data?: T; error?: unknown; response: Response }, what: string): T {
  if (result.data === undefined) {
    const problem = result.error as Problem | undefined;
    throw new Error(`${what}: HTTP ${result.response.status} ${problem?.code}: ${problem?.detail}`);
  }
  return result.data;
}

/** The values of a TensorData in its JSON form (GET .../grad is typed `unknown`: it also
 * answers .npy bytes, so the document gives no one schema for it). */
function values(t: TensorData | unknown): unknown {
  if (t === null || t === undefined) return null;
  if (typeof t !== "object" || !("data" in t)) throw new Error("expected json TensorData");
  return (t as components["schemas"]["TensorJSON"]).data;
}

function show(key: string, value: unknown): void {
  console.log(`${key}: ${JSON.stringify(value)}`);
}

const api = createClient<paths>({ baseUrl });
const created = ok(await api.POST("/v1/sessions", { body: { seed: 0 } }), "open a session");
// every call on the session carries its token (the document's SessionToken bearer scheme)
const session = createClient<paths>({
  baseUrl,
  headers: { Authorization: `Bearer ${created.token}` },
});
const path = { session_id: created.session_id };

try {
  // x = torch.ones(2, 2, requires_grad=True)
  const x = ok(
    await session.POST("/v1/sessions/{session_id}/tensors", {
      params: { path },
      body: { name: "x", fill: "ones", shape: [2, 2], requires_grad: true },
    }),
    "create x",
  );
  show("x.requires_grad", x.requires_grad);

  // y = x + 2; z = y * y * 3; out = z.mean()
  const graph = ok(
    await session.POST("/v1/sessions/{session_id}/graph", {
      params: { path },
      body: {
        nodes: [
          { name: "y", op: "add", args: ["x", 2] },
          { name: "z", op: "mul", args: ["y", "y"] },
          { name: "z", op: "mul", args: ["z", 3] },
          { name: "out", op: "mean", args: ["z"] },
        ],
        return: ["y", "out"],
        include: ["data"],
      },
    }),
    "run the graph",
  );
  const y = graph.tensors["y"];
  const out = graph.tensors["out"];
  if (y === undefined || out === undefined) throw new Error("the graph did not return y, out");
  show("y.grad_fn", y.grad_fn);
  show("out", values(out.data));
  show("out.grad_fn", out.grad_fn);

  // out.backward(); x.grad
  ok(
    await session.POST("/v1/sessions/{session_id}/backward", {
      params: { path },
      body: { tensor: "out" },
    }),
    "backward",
  );
  const grad = ok(
    await session.GET("/v1/sessions/{session_id}/tensors/{name}/grad", {
      params: { path: { ...path, name: "x" } },
    }),
    "read x.grad",
  );
  show("x.grad", values(grad));

  // out.backward() again: the graph was freed -> 409 graph_freed
  const again = await session.POST("/v1/sessions/{session_id}/backward", {
    params: { path },
    body: { tensor: "out" },
  });
  show("second backward", [again.response.status, (again.error as Problem | undefined)?.code]);

  // with torch.no_grad(): x -= 0.1 * x.grad
  const step = ok(
    await session.POST("/v1/sessions/{session_id}/graph", {
      params: { path },
      body: {
        no_grad: true,
        nodes: [
          { name: "g", op: "grad_of", args: ["x"] },
          { name: "step", op: "mul", args: ["g", 0.1] },
          { op: "sub_", args: ["x", "step"] },
        ],
        free: ["g", "step"],
        return: ["x"],
        include: ["data"],
      },
    }),
    "SGD step",
  );
  show("x after step", values(step.tensors["x"]?.data));
} finally {
  // done: free the session
  await session.DELETE("/v1/sessions/{session_id}", { params: { path } });
}
