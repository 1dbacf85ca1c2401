// The one reader of protoscope's own non-code files: the WGSL kernels and the .wasm of onnxruntime-web and
// libjpeg. Under `deno run` they are files in the source tree; in the binary `deno compile` builds they are
// embedded files, served as a read-only file system under the binary's module root, where Deno.readFile
// works on the same relative paths. So an asset is named by its module URL (`new URL("./x.wgsl",
// import.meta.url)`, `import.meta.resolve("pkg/x.wasm")`) and read from that path relative to the asset root:
// one code path for both. (The ImageNet class index is a JSON import: part of the module graph, embedded
// without help.)
//
// PROTOSCOPE_ASSET_ROOT names another root laid out like the binary's embedded files; the tests stage exactly
// what `deno task compile` embeds there and run tasks from it, which checks the binary's asset list under
// `deno run`, where the `deno compile` runtime cannot be downloaded.
import { resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

/** The folder main.ts, kernels/ and node_modules/ live in, in the source tree or the binary alike. */
export const MODULE_ROOT = new URL("../../", import.meta.url);

/** Environment variable naming a staged asset root (tests, debugging). */
export const ASSET_ROOT_ENV = "PROTOSCOPE_ASSET_ROOT";

/**
 * What `deno task compile` passes as `--include`: files the module graph does not reach (assets read at run
 * time, and worker scripts). node_modules (with the npm packages' .wasm) is embedded by `deno compile` itself.
 * tests/binary_test.ts checks that deno.json's compile task names exactly these.
 */
export const COMPILE_INCLUDES: readonly string[] = ["kernels/", "src/data/preprocess_worker.ts"];

/**
 * What `deno task compile` passes as `--exclude`: deno compile embeds the whole node_modules folder, and
 * onnxruntime-node's native libraries for every platform (288 MB) would more than quadruple the binary, which
 * runs the model on the wasm EP instead (src/runtime/ort_node.ts). tests/binary_test.ts checks that deno.json
 * names exactly these and that they are the installed package's folder.
 */
export const COMPILE_EXCLUDES: readonly string[] = ["node_modules/.deno/onnxruntime-node@1.30.0"];

/** The root assets are read from: PROTOSCOPE_ASSET_ROOT when set, else the module root. */
export function assetRoot(): URL {
  const staged = Deno.env.get(ASSET_ROOT_ENV);
  if (!staged) return MODULE_ROOT;
  const url = pathToFileURL(resolve(staged));
  return url.href.endsWith("/") ? url : new URL(`${url.href}/`);
}

/**
 * Where the file at module URL `url` is read from: the same path under the asset root for protoscope's own
 * files; any other file (a test's or a user's own WGSL) where it is.
 */
export function assetLocation(url: URL): URL {
  if (url.protocol !== "file:") throw new Error(`asset ${url.href}: only file: URLs are read`);
  if (!url.href.startsWith(MODULE_ROOT.href)) return url;
  return new URL(url.href.slice(MODULE_ROOT.href.length), assetRoot());
}

const cache = new Map<string, Promise<Uint8Array<ArrayBuffer>>>();

/** The bytes of the asset at module URL `url`, read once per process from the asset root. */
export function readAsset(url: URL): Promise<Uint8Array<ArrayBuffer>> {
  const file = assetLocation(url);
  let bytes = cache.get(file.href);
  if (!bytes) {
    bytes = Deno.readFile(file).catch((e) => {
      cache.delete(file.href);
      const why = e instanceof Deno.errors.NotFound ? "no such file" : (e as Error).message;
      throw new Error(`cannot read ${fileURLToPath(file)}: ${why}`);
    });
    cache.set(file.href, bytes);
  }
  return bytes;
}

/** The asset at `url` as UTF-8 text. */
export async function readTextAsset(url: URL): Promise<string> {
  return new TextDecoder().decode(await readAsset(url));
}
