// Emotion order and colours are owned by ml/ (ml.EMOTIONS, ml/palette.py); palette.json is a copy
// that tests/web/test_palette.py keeps equal, so the page and the HTML report agree.
import palette from "./palette.json";
import type { Emotion } from "./types";

export const EMOTIONS: readonly Emotion[] = [
  "neutral",
  "happiness",
  "surprise",
  "sadness",
  "anger",
  "disgust",
  "fear",
  "contempt",
];

export const EMOTION_COLORS: Readonly<Record<Emotion, string>> = palette;

/** Dash patterns give every line a second cue besides colour, for readers who cannot tell two
 * of the Okabe-Ito hues apart; neighbours in EMOTIONS never share a pattern. */
export const EMOTION_DASHES: Readonly<Record<Emotion, number[] | "solid">> = {
  neutral: "solid",
  happiness: [6, 3],
  surprise: [2, 2],
  sadness: "solid",
  anger: [6, 3],
  disgust: [2, 2],
  fear: [8, 3, 2, 3],
  contempt: "solid",
};

export function emotionLabel(emotion: Emotion | null | undefined): string {
  if (!emotion) return "none";
  return emotion.charAt(0).toUpperCase() + emotion.slice(1);
}
