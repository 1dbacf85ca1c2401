// deno task serve --run DIR [--model M --data D] [--host 127.0.0.1] [--port 8080]: a local web app over a run
// folder (src/pipeline/serve/): browse it, contrast two classes, decompose an image of your own.
import { choiceArg, intArg, parseCli, runTask, UsageError } from "../src/cli/cli.ts";
import { RUN_ENV_FLAGS } from "../src/cli/task_flags.ts";
import { EP_CHOICES } from "../src/runtime/ort.ts";
import { DEFAULT_HOST, DEFAULT_PORT, isLoopback, startServer } from "../src/pipeline/serve/server.ts";
import { UPLOAD_CAP_BYTES } from "../src/pipeline/serve/request_body.ts";
import { checkRunFolder } from "../src/pipeline/report/run_folder.ts";

export async function main(argv: string[]): Promise<void> {
  const a = parseCli(
    "serve",
    "Serves a web app over a run folder: the classes and their figures, the report's tables and curves, \"why\n" +
      "A, not B\" and a pair's shifting curve computed on demand, and an image of your own decomposed in a\n" +
      "class's prototypes; with a JSON API under /api (README). Writes only under <run>/explorer/.",
    {
      run: {
        type: "string",
        required: true,
        help: "run folder (its subfolders are task outputs, e.g. out/demo)",
      },
      model: { type: "string", help: "the model (default: the path the run's manifests record)" },
      data: { type: "string", help: "the dataset, for contrasts (default: the path the manifests record)" },
      host: {
        type: "string",
        default: DEFAULT_HOST,
        help: "interface to bind; anything but loopback exposes the run and the GPU to the network",
      },
      port: { type: "string", default: String(DEFAULT_PORT), help: "port (0: any free port)" },
      "upload-mib": {
        type: "string",
        default: String(UPLOAD_CAP_BYTES / 2 ** 20),
        help: "upload cap in MiB",
      },
      ep: RUN_ENV_FLAGS.ep,
    },
    argv,
  );
  try {
    await checkRunFolder(a.run as string);
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  const host = a.host as string;
  const port = intArg("port", a.port, 0)!;
  if (port > 65535) throw new UsageError(`--port ${port}: expected 0..65535`);
  if (!isLoopback(host)) {
    console.error(
      `warning: --host ${host} makes the explorer reachable from other machines; it has no authentication, ` +
        `and anyone who reaches it can read the run folder and run jobs on this GPU`,
    );
  }
  const server = await startServer({
    run: a.run as string,
    ...(a.model ? { model: a.model as string } : {}),
    ...(a.data ? { data: a.data as string } : {}),
    host,
    port,
    uploadCap: intArg("upload-mib", a["upload-mib"])! * 2 ** 20,
    ep: choiceArg("ep", a.ep, EP_CHOICES),
    log: (line) => console.log(line),
  });
  const e = server.explorer;
  console.log(
    `protoscope explorer on ${server.url}/ for ${e.root}: ${e.classes().length} classes, ` +
      `model ${e.model ?? "(none: decompose and contrast need --model)"}, data ${
        e.data ?? "(none)"
      }; Ctrl-C stops`,
  );
  await server.finished;
}

if (import.meta.main) await runTask(() => main(Deno.args));
