// deno run -A tasks/_rehearse_stage.ts <task> <peak.json> [task flags...]: one stage of `deno task rehearse`
// in a process of its own, so that the kernel's peak resident set (VmHWM) is the stage's own. Runs the task's
// main(argv) and then writes its peak RSS and peak GPU buffer bytes to <peak.json>; a failing task exits as the task would.
import { runTask, UsageError } from "../src/cli/cli.ts";
import { peakRssBytes, type StagePeaks } from "../src/bench/stage_meter.ts";
import { peakGpuBufferBytes } from "../src/runtime/gpu_meter.ts";

const [task, peakPath, ...argv] = Deno.args;
await runTask(async () => {
  if (!task || !/^[a-z-]+$/.test(task) || !peakPath) {
    throw new UsageError("usage: _rehearse_stage.ts <task> <peak.json> [flags...]");
  }
  const { main } = await import(`./${task}.ts`) as { main: (argv: string[]) => Promise<void> };
  await main(argv);
  const peaks: StagePeaks = { rssBytes: peakRssBytes(), gpuBufferBytes: peakGpuBufferBytes() };
  await Deno.writeTextFile(peakPath, JSON.stringify(peaks));
});
