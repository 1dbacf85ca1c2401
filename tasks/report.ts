// deno task report --run DIR --out report.html: one HTML page of everything a run folder holds (self-contained
// up to one page of classes; beyond, the class list and figures in <name>_files/ beside it).
import { intArg, parseCli, runTask } from "../src/cli/cli.ts";
import { writeReport } from "../src/pipeline/report/report.ts";

export async function main(argv: string[]): Promise<void> {
  const a = parseCli(
    "report",
    "Writes one HTML file (images inlined, no network) of a run folder: the component test's\n" +
      "table and p(class) histogram, per-class prototype grids and explanation figures (searchable), the\n" +
      "hyperplane accuracies as a heat map, the shifting/masking curves and tables, other outputs' JSON\n" +
      "summaries and JPEGs, and the manifests. It reads the outputs; it never recomputes. Beyond one page of\n" +
      "classes, the other pages' rows and every class's images go to <name>_files/ beside the page (loaded\n" +
      "when asked), so the page stays the same size whatever the number of classes.",
    {
      run: {
        type: "string",
        required: true,
        help: "run folder (its subfolders are task outputs, e.g. out/demo)",
      },
      out: { type: "string", default: "report.html", help: "the HTML file to write" },
      classes: {
        type: "string",
        help: "classes whose images are kept: indices, ranges, names (default all; every class stays listed)",
      },
      "page-size": { type: "string", default: "50", help: "classes per page of the class list" },
    },
    argv,
  );
  const r = await writeReport({
    run: a.run as string,
    out: a.out as string,
    pageSize: intArg("page-size", a["page-size"]),
    ...(a.classes !== undefined ? { classes: a.classes as string } : {}),
  });
  const s = r.sections;
  console.log(
    `wrote ${r.out} (${(r.bytes / 2 ** 20).toFixed(2)} MiB): ${r.classes} classes, ` +
      `component test ${s.component ? "yes" : "no"}, hyperplanes ${s.hyperplanes ? "yes" : "no"}, ` +
      `${s.contrastTests} contrast tests, ${s.otherOutputs} other outputs` +
      (r.problems.length ? `; ${r.problems.length} problems (listed above and at the top of the page)` : ""),
  );
}

if (import.meta.main) await runTask(() => main(Deno.args));
