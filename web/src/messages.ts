// What a person reads when something goes wrong: a plain sentence for the codes the API documents,
// followed by the service's own message, which names the exact problem.
import { ApiError } from "./api";

const EXPLANATIONS: Record<string, string> = {
  unauthorized: "The API key was not accepted. Check that it was copied in full and has not been revoked.",
  upload_too_large: "The file is larger than this service accepts.",
  not_a_video: "The file is not a video the service can read.",
  no_video_stream: "The file holds no video track (audio only?).",
  truncated_video: "The video file is damaged or incomplete.",
  bad_transcript: "The transcript file could not be read. Use JSON, WebVTT (.vtt) or SubRip (.srt).",
  invalid_parameter: "One of the settings was not accepted.",
  job_not_found: "This job does not exist, or it belongs to another key.",
  job_not_finished: "The job has not finished yet.",
  job_finished: "The job had already ended, so there was nothing to cancel.",
  network_error: "The emotrace service could not be reached. Check your connection and try again.",
  upload_aborted: "The upload was cancelled.",
  http_413: "The file is larger than this service accepts.",
  http_502: "The service is unavailable right now. Try again in a minute.",
  http_503: "The service is unavailable right now. Try again in a minute.",
};

/** A sentence for the page; the code is kept in view because support needs it. */
export function describeError(error: unknown): string {
  if (error instanceof ApiError) {
    const lead = EXPLANATIONS[error.code];
    if (!lead) return `${error.message} (${error.code})`;
    if (error.message && error.message !== lead && !error.code.startsWith("http_") && error.status !== 0) {
      return `${lead} ${error.message} (${error.code})`;
    }
    return `${lead} (${error.code})`;
  }
  return error instanceof Error ? error.message : String(error);
}

export function isUnauthorized(error: unknown): boolean {
  return error instanceof ApiError && error.status === 401;
}
