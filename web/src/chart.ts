// The emotion timeline: ECharts, imported piece by piece from echarts/core so the bundle carries
// only the line chart, its axes, tooltip, zoom and aria support.
import { LineChart, type LineSeriesOption } from "echarts/charts";
import {
  AriaComponent,
  type AriaComponentOption,
  DataZoomComponent,
  type DataZoomComponentOption,
  GridComponent,
  type GridComponentOption,
  LegendComponent,
  type LegendComponentOption,
  MarkAreaComponent,
  type MarkAreaComponentOption,
  TooltipComponent,
  type TooltipComponentOption,
} from "echarts/components";
import * as echarts from "echarts/core";
import { CanvasRenderer } from "echarts/renderers";

import { EMOTION_COLORS, EMOTION_DASHES, EMOTIONS, emotionLabel } from "./emotions";
import { formatClock, formatDuration, formatPercent } from "./format";
import type { Emotion, Frame } from "./types";

echarts.use([
  LineChart,
  GridComponent,
  TooltipComponent,
  LegendComponent,
  DataZoomComponent,
  MarkAreaComponent,
  AriaComponent,
  CanvasRenderer,
]);

type Option = echarts.ComposeOption<
  | LineSeriesOption
  | GridComponentOption
  | TooltipComponentOption
  | LegendComponentOption
  | DataZoomComponentOption
  | MarkAreaComponentOption
  | AriaComponentOption
>;

export interface TimelineInput {
  frames: readonly Frame[];
  smoothed: readonly (number[] | null)[];
  durationS: number;
  dominant: Emotion | null;
}

/** Stretches of the recording with no face, as [from, to] seconds, shaded on the chart: a gap in
 * the lines alone is easy to miss when it lasts one sample. */
export function noFaceRanges(frames: readonly Frame[], durationS: number): [number, number][] {
  const ranges: [number, number][] = [];
  let start: number | null = null;
  for (const frame of frames) {
    if (!frame.face && start === null) start = frame.t;
    if (frame.face && start !== null) {
      ranges.push([start, frame.t]);
      start = null;
    }
  }
  if (start !== null) ranges.push([start, Math.max(durationS, start)]);
  return ranges;
}

function buildOption(input: TimelineInput): Option {
  const { frames, smoothed, durationS } = input;
  const shaded = noFaceRanges(frames, durationS);
  const series: LineSeriesOption[] = EMOTIONS.map((emotion, k) => ({
    type: "line",
    name: emotion,
    // null, not 0, where no face was seen: ECharts breaks the line there (connectNulls: false).
    data: frames.map((frame, i) => [frame.t * 1000, smoothed[i] ? smoothed[i]![k] : null]),
    showSymbol: false,
    connectNulls: false,
    animation: false,
    lineStyle: { width: 1.75, color: EMOTION_COLORS[emotion], type: EMOTION_DASHES[emotion] },
    itemStyle: { color: EMOTION_COLORS[emotion] },
    emphasis: { focus: "series" },
    ...(k === 0 && shaded.length
      ? {
          markArea: {
            silent: true,
            itemStyle: { color: "rgba(120, 120, 120, 0.14)" },
            label: { show: false },
            data: shaded.map(([from, to]) => [{ xAxis: from * 1000 }, { xAxis: to * 1000 }]),
          },
        }
      : {}),
  }));
  return {
    animation: false,
    // The x axis is a time axis over milliseconds from the recording's start, read as UTC, so
    // that ticks fall on whole minutes and hours of the recording, not of a local time zone.
    useUTC: true,
    aria: {
      enabled: true,
      label: {
        description:
          `Emotion timeline over ${formatDuration(durationS)}: eight lines, one per emotion, ` +
          `giving the smoothed probability from 0 to 100 percent at each sampled instant; ` +
          `gaps where no face was visible. Dominant emotion: ${emotionLabel(input.dominant)}. ` +
          `The same values are listed in the table below the chart.`,
      },
    },
    grid: { left: 56, right: 24, top: 16, bottom: 72 },
    legend: { show: false, data: [...EMOTIONS] },
    tooltip: {
      trigger: "axis",
      confine: true,
      className: "timeline-tooltip",
      transitionDuration: 0,
      axisPointer: { type: "line" },
      formatter: (params) => tooltipHtml(Array.isArray(params) ? params : [params], frames, smoothed),
    },
    xAxis: {
      type: "time",
      min: 0,
      max: Math.max(durationS, frames.length ? frames[frames.length - 1].t : 0) * 1000,
      name: "time",
      nameLocation: "end",
      axisLabel: { formatter: (value: number) => formatClock(value / 1000), hideOverlap: true },
      splitLine: { show: false },
    },
    yAxis: {
      type: "value",
      min: 0,
      max: 1,
      axisLabel: { formatter: (value: number) => `${Math.round(value * 100)}%` },
    },
    dataZoom: [
      { type: "inside", xAxisIndex: 0, filterMode: "none", minValueSpan: 2000 },
      {
        type: "slider",
        xAxisIndex: 0,
        filterMode: "none",
        height: 22,
        bottom: 16,
        labelFormatter: (value: number) => formatClock(value / 1000),
      },
    ],
    series,
  };
}

interface ZoomEvent {
  start?: number;
  end?: number;
}

interface AxisParam {
  dataIndex: number;
}

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** One sample: its time and the 8 values, largest first, each with its colour and name. */
function tooltipHtml(params: unknown[], frames: readonly Frame[], smoothed: readonly (number[] | null)[]): string {
  const first = params[0] as AxisParam | undefined;
  if (!first || first.dataIndex === undefined) return "";
  const i = first.dataIndex;
  const frame = frames[i];
  if (!frame) return "";
  const head = `<strong>${escapeHtml(formatClock(frame.t, true))}</strong>`;
  const row = smoothed[i];
  if (!row) return `${head}<br>No face visible`;
  const lines = EMOTIONS.map((emotion, k) => ({ emotion, value: row[k] }))
    .sort((a, b) => b.value - a.value)
    .map(
      ({ emotion, value }) =>
        `<span class="tip-row"><span class="swatch" style="background:${EMOTION_COLORS[emotion]}"></span>` +
        `${escapeHtml(emotionLabel(emotion))} <b>${formatPercent(value)}</b></span>`,
    );
  return `${head}<br>${lines.join("<br>")}`;
}

/** A mounted timeline, with the controls the keyboard needs (ECharts' own zoom is pointer-only). */
export class Timeline {
  private readonly chart: echarts.ECharts;
  private readonly resizeObserver: ResizeObserver;
  private start = 0;
  private end = 100;

  constructor(container: HTMLElement, input: TimelineInput) {
    this.chart = echarts.init(container, null, { renderer: "canvas" });
    this.chart.setOption(buildOption(input));
    // The event carries the new window (in `batch` when it came from the wheel or a drag); reading
    // it back with getOption() would copy every series on each wheel step.
    this.chart.on("datazoom", (event) => {
      const zoom = event as ZoomEvent & { batch?: ZoomEvent[] };
      const span = zoom.batch?.[0] ?? zoom;
      if (typeof span.start === "number" && typeof span.end === "number") {
        this.start = span.start;
        this.end = span.end;
      }
    });
    this.resizeObserver = new ResizeObserver(() => this.chart.resize());
    this.resizeObserver.observe(container);
  }

  /** factor < 1 zooms in around the middle of the visible window, > 1 zooms out. */
  zoom(factor: number): void {
    const middle = (this.start + this.end) / 2;
    const half = Math.min(50, Math.max(0.5, ((this.end - this.start) / 2) * factor));
    let start = middle - half;
    let end = middle + half;
    if (start < 0) [start, end] = [0, end - start];
    if (end > 100) [start, end] = [Math.max(0, start - (end - 100)), 100];
    this.setWindow(start, end);
  }

  /** Moves the visible window by a fraction of its own width (negative: earlier). */
  pan(fraction: number): void {
    const width = this.end - this.start;
    let start = this.start + width * fraction;
    start = Math.min(Math.max(0, start), 100 - width);
    this.setWindow(start, start + width);
  }

  reset(): void {
    this.setWindow(0, 100);
  }

  setVisible(emotion: Emotion, visible: boolean): void {
    this.chart.dispatchAction({ type: visible ? "legendSelect" : "legendUnSelect", name: emotion });
  }

  dispose(): void {
    this.resizeObserver.disconnect();
    this.chart.dispose();
  }

  private setWindow(start: number, end: number): void {
    this.start = start;
    this.end = end;
    this.chart.dispatchAction({ type: "dataZoom", start, end });
  }
}
