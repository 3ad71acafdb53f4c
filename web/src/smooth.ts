// The chart shows what the pipeline's segments are built from: the same centred moving average
// as ml/aggregate.py's smooth(), over raw frame probabilities from the frames endpoint.
import { EMOTIONS } from "./emotions";
import type { Frame } from "./types";

export const DEFAULT_WINDOW = 5;

/** The window length the analysis used, read from its `analysis.smoothing` description (for
 * example "centred mean over 5 samples"); the pipeline default when none is stated. */
export function windowFromDescription(description: string | null | undefined): number {
  const match = /(\d+)/.exec(description ?? "");
  const size = match ? Number(match[1]) : DEFAULT_WINDOW;
  return Number.isInteger(size) && size >= 1 && size <= 999 ? size : DEFAULT_WINDOW;
}

/**
 * Centred mean over `window` samples within one run of face frames: a no-face frame breaks the
 * window (so no average mixes two sightings), and near a run's edge the window shrinks to the
 * samples that exist. Rows come back in EMOTIONS order, null where no face was seen; each row of
 * means of distributions still sums to 1.
 */
export function smoothFrames(frames: readonly Frame[], window = DEFAULT_WINDOW): (number[] | null)[] {
  const half = Math.floor(window / 2);
  const out: (number[] | null)[] = new Array(frames.length).fill(null);
  let runStart = 0;
  while (runStart < frames.length) {
    if (!frames[runStart].face || !frames[runStart].probs) {
      runStart += 1;
      continue;
    }
    let runEnd = runStart;
    while (runEnd + 1 < frames.length && frames[runEnd + 1].face && frames[runEnd + 1].probs) runEnd += 1;
    const raw = [];
    for (let i = runStart; i <= runEnd; i += 1) {
      const probs = frames[i].probs!;
      raw.push(EMOTIONS.map((emotion) => probs[emotion]));
    }
    // Prefix sums keep a run of n frames O(n * 8) whatever the window.
    const prefix: number[][] = [new Array(EMOTIONS.length).fill(0)];
    for (const row of raw) prefix.push(row.map((value, k) => prefix[prefix.length - 1][k] + value));
    for (let i = 0; i < raw.length; i += 1) {
      const lo = Math.max(0, i - half);
      const hi = Math.min(raw.length - 1, i + half);
      const count = hi - lo + 1;
      out[runStart + i] = EMOTIONS.map((_, k) => (prefix[hi + 1][k] - prefix[lo][k]) / count);
    }
    runStart = runEnd + 1;
  }
  return out;
}
