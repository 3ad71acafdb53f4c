// Shapes of the REST API's JSON, generated: api-types.ts is made by `npm run types` from
// web/openapi.json, which `python -m api.openapi web/openapi.json` writes from the API itself
// (api/schemas.py, ml/schema.py). Change those, regenerate (CONTRIBUTING.md), never edit here.
import type { components } from "./api-types";

type Schemas = components["schemas"];

export type Emotion = "neutral" | "happiness" | "surprise" | "sadness" | "anger" | "disgust" | "fear" | "contempt";

export type Probs = Record<Emotion, number>;

// The API document types an emotion name as a string and a probability map as an open record
// (ml/schema.py keeps them plain); every one the service sends uses the eight names of ml.EMOTIONS,
// so the page reads these fields, wherever they occur, as Emotion and Probs.
type EmotionField = "emotion" | "dominant_emotion";
type ProbsField = "probs" | "mean_probs" | "time_share";

/** `From` in a union (such as `string | null`) becomes `To`; the other members stay. */
type Swap<T, From, To> = T extends From ? To : T;

type WithEmotions<T> = T extends string | number | boolean | null | undefined
  ? T
  : T extends readonly unknown[]
    ? { [I in keyof T]: WithEmotions<T[I]> }
    : {
        [K in keyof T]: K extends EmotionField
          ? Swap<T[K], string, Emotion>
          : K extends ProbsField
            ? Swap<T[K], Record<string, number>, Probs>
            : WithEmotions<T[K]>;
      };

export type Job = Schemas["JobOut"];
export type JobStatus = Job["status"];
export type JobPage = Schemas["JobPage"];
export type ErrorBody = Schemas["ErrorBody"];
export type VideoInfo = Schemas["VideoInfo"];

export type Frame = WithEmotions<Schemas["Frame"]>;
export type FramePage = WithEmotions<Schemas["FramePage"]>;
export type Segment = WithEmotions<Schemas["Segment"]>;
export type MinuteBin = WithEmotions<Schemas["MinuteBin"]>;
export type Summary = WithEmotions<Schemas["Summary"]>;
export type TranscriptSegment = WithEmotions<Schemas["TranscriptSegment"]>;
/** One person of a faces=all job, followed through the recording. */
export type Participant = WithEmotions<Schemas["Participant"]>;

/** `GET /v1/jobs/{id}/summary`: the analysis JSON without its frames. */
export type AnalysisSummary = WithEmotions<Schemas["JobAnalysis"]>;

/** The analysis JSON as `emotrace analyze` writes it, frames included. */
export type Analysis = AnalysisSummary & { frames: Frame[] };
