// The one reader of component-test folders, used by every consumer (the report, and through it the explorer):
// the folder's manifest is checked first (kind, finished, and when asked the model and layer), then
// component_test.json must hold class records and both variants' summaries. A folder from before manifest.json
// was written beside the report is checked through the manifest inside component_test.json.
import { join } from "node:path";
import { UsageError } from "../../cli/cli.ts";
import {
  type ArtifactExpectation,
  checkArtifact,
  checkOrigin,
  manifestKind,
  type ManifestRecord,
  readManifest,
} from "../../io/manifest.ts";
import { type ComponentTestReport, VARIANTS } from "./component_test_run.ts";

/** The artifact kind a component-test folder's manifest declares. */
export const COMPONENT_TEST_KIND = "component-test";
/** The test's report in its folder. */
export const COMPONENT_TEST_REPORT = "component_test.json";

export type ComponentTestExpectation = Omit<ArtifactExpectation, "kind" | "allowForeign">;

/** Reads `dir`'s component test; a UsageError (exit 2) names the folder, what was expected and what was found. */
export async function readComponentTest(
  dir: string,
  want: ComponentTestExpectation,
): Promise<ComponentTestReport> {
  const where = `${want.flag} ${dir}`;
  const hasManifest = (await readManifest(dir)) !== undefined;
  if (hasManifest) await checkArtifact(dir, { ...want, kind: COMPONENT_TEST_KIND });
  const path = join(dir, COMPONENT_TEST_REPORT);
  let value: unknown;
  try {
    value = JSON.parse(await Deno.readTextFile(path));
  } catch (e) {
    const found = e instanceof Deno.errors.NotFound
      ? `no ${COMPONENT_TEST_REPORT}`
      : `an unreadable ${COMPONENT_TEST_REPORT} (${(e as Error).message})`;
    throw new UsageError(`${where}: expected a component-test folder, found ${found}`);
  }
  const report = value as Partial<ComponentTestReport> | null;
  const embedded = report?.manifest as ManifestRecord | undefined;
  if (!hasManifest) {
    if (!embedded || manifestKind(embedded) !== COMPONENT_TEST_KIND) {
      throw new UsageError(
        `${where}: expected a component-test folder, found a ${COMPONENT_TEST_REPORT} without its manifest`,
      );
    }
    if (embedded.complete === false) {
      throw new UsageError(
        `${where}: expected a complete component test, found one whose run has not finished`,
      );
    }
    checkOrigin(where, COMPONENT_TEST_KIND, embedded, want);
  }
  if (!Array.isArray(report?.classes) || !VARIANTS.every((v) => report?.summary?.[v])) {
    throw new UsageError(
      `${where}: expected ${COMPONENT_TEST_REPORT} with class records and both variants' summaries, found ` +
        `${Array.isArray(report?.classes) ? "no summary" : "no class records"}`,
    );
  }
  return report as ComponentTestReport;
}
