// Shapes of the REST API's JSON (docs: README "REST API"; analysis fields: ml/schema.py).

export type Emotion = "neutral" | "happiness" | "surprise" | "sadness" | "anger" | "disgust" | "fear" | "contempt";

export type Probs = Record<Emotion, number>;

export type JobStatus = "queued" | "running" | "succeeded" | "failed" | "cancelled";

export interface VideoInfo {
  duration_s: number;
  fps: number;
  width: number;
  height: number;
  rotation: number;
  codec: string | null;
}

export interface ErrorBody {
  code: string;
  message: string;
}

export interface Job {
  id: string;
  status: JobStatus;
  progress: number;
  chunks_done: number;
  chunks_total: number;
  external_id: string | null;
  fps: number;
  retain_video: boolean;
  faces?: "subject" | "all";
  created_at: string;
  started_at: string | null;
  finished_at: string | null;
  video: VideoInfo | null;
  error: ErrorBody | null;
}

export interface Page<T> {
  items: T[];
  next_cursor: string | null;
}

export interface Face {
  participant: string;
  box: [number, number, number, number];
  probs: Probs;
}

export interface Frame {
  t: number;
  face: boolean;
  box: [number, number, number, number] | null;
  probs: Probs | null;
  /** Every face of the sample (jobs run with faces=all). */
  faces?: Face[];
}

export interface Segment {
  start: number;
  end: number;
  emotion: Emotion;
  frames: number;
  mean_probs: Probs;
}

export interface MinuteBin {
  minute: number;
  start: number;
  end: number;
  frames: number;
  face_frames: number;
  face_visible_ratio: number;
  mean_probs: Probs | null;
  dominant_emotion: Emotion | null;
}

export interface Summary {
  duration_s: number;
  frames: number;
  face_frames: number;
  face_visible_ratio: number;
  dominant_emotion: Emotion | null;
  mean_probs: Probs | null;
  time_share: Probs;
}

export interface TranscriptSegment {
  start: number;
  end: number;
  speaker: string | null;
  text: string | null;
  face_frames: number;
  mean_probs: Probs | null;
  dominant_emotion: Emotion | null;
  /** The speaker's participant, whose face the emotions are from (faces=all, speaker matched). */
  participant?: string;
}

/** One person of a faces=all job, followed through the recording. */
export interface Participant {
  id: string;
  frames: number;
  face_visible_ratio: number;
  summary: Summary;
  segments: Segment[];
  timeline: MinuteBin[];
  speaker: string | null;
  speaker_confidence: number | null;
}

export interface AnalysisSettings {
  sample_fps: number;
  start_s: number;
  end_s: number;
  detector: string;
  smoothing: string;
  model: string;
  faces?: "all";
}

/** `GET /v1/jobs/{id}/summary`: the analysis JSON without its frames. */
export interface AnalysisSummary {
  schema_version: string;
  video: VideoInfo;
  analysis: AnalysisSettings;
  segments: Segment[];
  timeline: MinuteBin[];
  summary: Summary;
  transcript: TranscriptSegment[] | null;
  participants?: Participant[];
}

/** The analysis JSON as `emotrace analyze` writes it, frames included. */
export interface Analysis extends AnalysisSummary {
  frames: Frame[];
}
