// Step 3: per prototype (one workgroup each), merge this batch's scores into the running top-K over all images
// and the running top-E among images whose predicted class differs from the prototype's class (E = 1 gives the
// single best "other" position the component test needs; the prototype figures keep as many as the top-K).
// Both lists come out of the same scores in one pass over the data: no per-class search over the other
// classes' images.
//
// Selection in K rounds: round r finds, by a parallel scan of the row (coalesced, strided over invocations)
// and a tree reduction, the best candidate ranked after round r-1's winner. The candidates are the row's
// scores plus the K entries of the running state, so the merge with earlier batches is the same selection.
// Rounds after the first re-read a row of a few KB that stays in cache. This needs no per-invocation sorted
// lists (dynamically indexed local arrays), which llvmpipe compiles very slowly and GPUs spill.
//
// Positions are identified by key = image * ph * pw + py * pw + px, so "lower key" is exactly the tie-break
// order (image, then y, then x). K, E, WG and the empty-slot sentinels are overrides set by prototype_search.ts
// from settings.ts.

// Params: common.wgsl, compiled ahead of this file by prototype_search.ts.

struct Hit {
  score: f32,
  key: u32,
}

// Positions kept per prototype over all images (K <= WG), among other classes' images (E <= WG), and
// invocations per workgroup.
override K: u32;
override E: u32;
override WG: u32;
// State per prototype: K score bit patterns, K keys, then E score bit patterns, E keys (derived, not set).
override STRIDE: u32 = 2u * (K + E);
// An empty slot: every real cosine (>= -1) ranks before it (settings.ts, set by prototype_search.ts).
override EMPTY_SCORE: f32;
override EMPTY_KEY: u32;
// Ranks before every candidate: the "previous winner" of the first round.
const TOP_SCORE: f32 = 3.0e38;

@group(0) @binding(0) var<storage, read> scores: array<f32>;          // [rows, N]
@group(0) @binding(1) var<storage, read> predicted: array<i32>;       // [batch]
@group(0) @binding(2) var<storage, read> prototype_class: array<i32>; // [P]
@group(0) @binding(3) var<storage, read_write> state: array<u32>;     // [P, STRIDE]
@group(0) @binding(4) var<uniform> p: Params;

var<workgroup> red_score: array<f32, WG>;
var<workgroup> red_key: array<u32, WG>;

fn ranks_before(a: Hit, b: Hit) -> bool {
  return a.score > b.score || (a.score == b.score && a.key < b.key);
}

// The best of the workgroup's candidates, returned to every invocation. Call from uniform control flow.
fn reduce_best(li: u32, mine: Hit) -> Hit {
  red_score[li] = mine.score;
  red_key[li] = mine.key;
  workgroupBarrier();
  for (var half = WG / 2u; half > 0u; half = half / 2u) {
    if (li < half) {
      let other = Hit(red_score[li + half], red_key[li + half]);
      if (ranks_before(other, Hit(red_score[li], red_key[li]))) {
        red_score[li] = other.score;
        red_key[li] = other.key;
      }
    }
    workgroupBarrier();
  }
  let best = Hit(red_score[0], red_key[0]);
  // Everyone has read the result before the next reduction overwrites it.
  workgroupBarrier();
  return best;
}

// The `count` best candidates among this row's scores (only columns of images not predicted as `cls` when
// `others_only`) and the running list held at state[at .. at + 2 count), best first: invocation li < count
// returns entry li of the new list. Rounds: see the file comment. Call from uniform control flow; every read
// of the state is done when it returns (reduce_best ends with a barrier).
fn select_best(li: u32, row: u32, in_chunk: bool, at: u32, count: u32, others_only: bool, cls: i32) -> Hit {
  let empty = Hit(EMPTY_SCORE, EMPTY_KEY);
  let cells = p.pooled_h * p.pooled_w;
  // Invocation li < count holds the running list's entry li as an extra candidate.
  var held = empty;
  if (in_chunk && li < count) {
    held = Hit(bitcast<f32>(state[at + li]), state[at + count + li]);
  }
  var new_entry = empty;
  var previous = Hit(TOP_SCORE, 0u);
  for (var r = 0u; r < count; r++) {
    var best = empty;
    if (in_chunk) {
      if (ranks_before(previous, held) && ranks_before(held, best)) {
        best = held;
      }
      for (var n = li; n < p.columns; n += WG) {
        let c = Hit(scores[row * p.columns + n], p.first_key + n);
        let admitted = !others_only || predicted[n / cells] != cls;
        if (admitted && ranks_before(previous, c) && ranks_before(c, best)) {
          best = c;
        }
      }
    }
    previous = reduce_best(li, best);
    if (li == r) {
      new_entry = previous;
    }
  }
  return new_entry;
}

@compute @workgroup_size(WG)
fn main(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
  @builtin(local_invocation_index) li: u32,
) {
  let row = wid.x + wid.y * nwg.x;
  let in_chunk = row < p.rows;
  let proto = p.row_start + min(row, p.rows - 1u);
  let base = proto * STRIDE;
  let cls = prototype_class[proto];
  let top = select_best(li, row, in_chunk, base, K, false, cls);
  let other = select_best(li, row, in_chunk, base + 2u * K, E, true, cls);
  if (in_chunk) {
    if (li < K) {
      state[base + li] = bitcast<u32>(top.score);
      state[base + K + li] = top.key;
    }
    if (li < E) {
      state[base + 2u * K + li] = bitcast<u32>(other.score);
      state[base + 2u * K + E + li] = other.key;
    }
  }
}
