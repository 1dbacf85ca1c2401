// The prototype figure of one class (the reference's visualization, 8 crops per row): one row per prototype
// with its best crops over all images, and beside it the best crops among images not predicted as the class.
// Frames tell where each crop comes from: green = an image predicted as the class, orange = another class.
// The title says how large a crop is and what it covers (a cell, a token's patch, or P x P patches around it).
import { cropBox, type CropCell, cropGrid } from "../../../kernels/composite/mod.ts";
import { cropCaption } from "../search/crop_patches.ts";
import type { SearchHit } from "../../../kernels/search/hits.ts";
import type { ImageLookup } from "../search/crop_images.ts";
import { Canvas, GRAY, lineHeight, OTHER_CLASS, OWN_CLASS, textWidth } from "../../render/canvas.ts";

export interface PrototypeGridInput {
  cls: number;
  name?: string;
  layer: string;
  /** Per prototype (in class order): best positions over all images, and among other-predicted images. */
  rows: { all: SearchHit[]; excluded: SearchHit[] }[];
  images: ImageLookup;
  pooledWidth: number;
  /** Predicted class of every dataset image (decides the frame colours). */
  predicted: Int32Array;
  /** Crops per row (default 8). */
  columns?: number;
  /** Cells per crop side (a token tap's --crop-patches; default 1). */
  cropPatches?: number;
  /** The hits are a transformer's tokens (the caption says patches, not cells). */
  tokens?: boolean;
}

export interface GridLayout {
  /** Scale of the crops in the figure (crops under 64 px are enlarged by an integer factor). */
  scale: number;
  /** Top-left corner of each grid (all, excluded) in the figure. */
  origins: { all: [number, number]; excluded: [number, number] };
  /** Side of one scaled crop, and the distance between neighbouring crops. */
  cell: number;
  pitch: number;
}

const MARGIN = 12;
const GAP = 3; // pixels between crops in cropGrid, before scaling
const BETWEEN_GRIDS = 24;

export function prototypeGridLayout(
  input: PrototypeGridInput,
): GridLayout & { width: number; height: number } {
  const size = cropBox({ y: 0, x: 0 }, input.pooledWidth, input.cropPatches ?? 1).side;
  const scale = Math.max(1, Math.round(64 / size));
  const columns = input.columns ?? 8;
  const cell = size * scale;
  const pitch = (size + GAP) * scale;
  const gridWidth = columns * pitch - GAP * scale;
  const gridHeight = input.rows.length * pitch - GAP * scale;
  const labelWidth = textWidth(`P${input.rows.length}`, 2) + 10;
  const top = MARGIN + lineHeight(2) + 10 + lineHeight(1) + 8;
  const left = MARGIN + labelWidth;
  const excludedLeft = left + gridWidth + BETWEEN_GRIDS;
  const width = Math.max(
    excludedLeft + gridWidth + MARGIN,
    MARGIN + textWidth(figureTitle(input), 2) + MARGIN,
  );
  return {
    scale,
    cell,
    pitch,
    origins: { all: [left, top], excluded: [excludedLeft, top] },
    width,
    height: top + gridHeight + 10 + lineHeight(1) + MARGIN,
  };
}

/** The title: class, prototypes, layer and the crops' size. */
function figureTitle(input: PrototypeGridInput): string {
  const side = cropBox({ y: 0, x: 0 }, input.pooledWidth, input.cropPatches ?? 1).side;
  const crops = cropCaption(side, input.cropPatches ?? 1, input.tokens ?? false).toUpperCase();
  return `CLASS ${input.cls}${input.name ? ` ${input.name}` : ""} - ${input.rows.length} PROTOTYPES AT ` +
    `${input.layer}, CROPS OF ${crops}`;
}

const toCell = (h: SearchHit): CropCell => ({ image: h.image, y: h.y, x: h.x });

/** Draws the figure; crops come from `images` (prepared 224 px images by dataset index). */
export function prototypeGridFigure(input: PrototypeGridInput): Canvas {
  const layout = prototypeGridLayout(input);
  const canvas = new Canvas(layout.width, layout.height);
  const columns = input.columns ?? 8;
  canvas.text(MARGIN, MARGIN, figureTitle(input), undefined, 2);
  const headerY = MARGIN + lineHeight(2) + 10;
  canvas.text(layout.origins.all[0], headerY, `BEST ${columns} CROPS, ALL IMAGES`, undefined, 1);
  canvas.text(
    layout.origins.excluded[0],
    headerY,
    `BEST ${columns} CROPS, IMAGES NOT PREDICTED AS THIS CLASS`,
    undefined,
    1,
  );
  input.rows.forEach((_, r) => {
    const y = layout.origins.all[1] + r * layout.pitch + (layout.cell - lineHeight(2)) / 2;
    canvas.text(MARGIN, Math.round(y), `P${r + 1}`, undefined, 2);
  });
  for (const variant of ["all", "excluded"] as const) {
    const rows = input.rows.map((row) => row[variant].slice(0, columns));
    const [x0, y0] = layout.origins[variant];
    if (rows.every((r) => r.length === 0)) {
      canvas.text(x0, y0, "NO IMAGES", GRAY, 2);
      continue;
    }
    const grid = cropGrid(input.images, rows.map((r) => r.map(toCell)), input.pooledWidth, {
      columns,
      gap: GAP,
      background: 255,
      span: input.cropPatches ?? 1,
    });
    canvas.blit(grid, x0, y0, grid.width * layout.scale, grid.height * layout.scale);
    rows.forEach((hits, r) => {
      hits.forEach((hit, c) => {
        const own = input.predicted[hit.image] === input.cls;
        const x = x0 + c * layout.pitch, y = y0 + r * layout.pitch;
        canvas.frame(x - 2, y - 2, layout.cell + 4, layout.cell + 4, own ? OWN_CLASS : OTHER_CLASS, 2);
      });
    });
  }
  const legendY = layout.height - MARGIN - lineHeight(1);
  canvas.fillRect(MARGIN, legendY, 7, 7, OWN_CLASS);
  const x = canvas.text(MARGIN + 10, legendY, "IMAGE PREDICTED AS THIS CLASS", undefined, 1);
  canvas.fillRect(x + 12, legendY, 7, 7, OTHER_CLASS);
  canvas.text(x + 22, legendY, "IMAGE PREDICTED AS ANOTHER CLASS", undefined, 1);
  return canvas;
}
