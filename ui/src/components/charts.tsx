/*
 * Small interactive SVG charts, themed by Chakra's semantic tokens (CSS variables), so they follow
 * Airflow's light and dark modes. Hover a bar or point for its value; click a legend entry to hide
 * or show a series.
 */
import { Box, Flex, Text } from "@chakra-ui/react";
import { useState } from "react";

import type { DayPoint } from "src/types";

const PALETTES = ["blue", "green", "orange", "purple", "teal", "pink", "cyan", "yellow", "red", "gray"];

export const seriesColor = (index: number) => `var(--chakra-colors-${PALETTES[index % PALETTES.length]}-solid)`;
const MUTED = "var(--chakra-colors-fg-muted)";
const GRID = "var(--chakra-colors-border)";

const W = 640;
const H = 220;
const PAD = { bottom: 28, left: 44, right: 8, top: 8 };

const niceMax = (max: number) => {
  if (max <= 0) {
    return 1;
  }
  const magnitude = 10 ** Math.floor(Math.log10(max));

  return Math.ceil(max / magnitude) * magnitude;
};

const short = (value: number) =>
  value >= 1e6 ? `${(value / 1e6).toFixed(1)}M` : value >= 1e3 ? `${(value / 1e3).toFixed(1)}k` : `${Number(value.toFixed(3))}`;

const Legend = ({ hidden, keys, onToggle }: { hidden: Set<string>; keys: string[]; onToggle: (key: string) => void }) => (
  <Flex gap={3} mt={1} wrap="wrap">
    {keys.map((key, index) => (
      <Box
        aria-pressed={!hidden.has(key)}
        as="button"
        cursor="pointer"
        display="flex"
        fontSize="xs"
        gap={1}
        key={key}
        onClick={() => onToggle(key)}
        opacity={hidden.has(key) ? 0.4 : 1}
        // Accessible name: "Series <key>"
        title={`Show or hide ${key}`}
      >
        <Box aria-hidden borderRadius="sm" h={3} mt="2px" style={{ background: seriesColor(index) }} w={3} />
        <span>{key}</span>
      </Box>
    ))}
  </Flex>
);

const Axes = ({ days, max }: { days: string[]; max: number }) => {
  const ticks = [0, 0.5, 1].map((f) => f * max);
  const innerH = H - PAD.top - PAD.bottom;
  const step = Math.max(1, Math.ceil(days.length / 8));
  const band = (W - PAD.left - PAD.right) / Math.max(days.length, 1);

  return (
    <g>
      {ticks.map((t) => {
        const y = PAD.top + innerH - (t / max) * innerH;

        return (
          <g key={t}>
            <line stroke={GRID} x1={PAD.left} x2={W - PAD.right} y1={y} y2={y} />
            <text fill={MUTED} fontSize="10" textAnchor="end" x={PAD.left - 4} y={y + 3}>
              {short(t)}
            </text>
          </g>
        );
      })}
      {days.map((day, i) =>
        i % step === 0 ? (
          <text fill={MUTED} fontSize="10" key={day} textAnchor="middle" x={PAD.left + band * (i + 0.5)} y={H - 10}>
            {day.slice(5)}
          </text>
        ) : null,
      )}
    </g>
  );
};

const Tip = ({ text }: { text?: string }) => (
  <Text color="fg.muted" fontSize="sm" minH={5}>
    {text ?? "Hover the chart for values."}
  </Text>
);

/** Stacked bars per day, one segment per series. */
export const StackedBars = ({ keys, label, points }: { keys: string[]; label: string; points: DayPoint[] }) => {
  const [hidden, setHidden] = useState<Set<string>>(new Set());
  const [tip, setTip] = useState<string>();
  const shown = keys.filter((k) => !hidden.has(k));
  const max = niceMax(Math.max(0, ...points.map((p) => shown.reduce((s, k) => s + (p.values[k] ?? 0), 0))));
  const innerH = H - PAD.top - PAD.bottom;
  const band = (W - PAD.left - PAD.right) / Math.max(points.length, 1);
  const toggle = (key: string) =>
    setHidden((previous) => {
      const next = new Set(previous);

      if (next.has(key)) {
        next.delete(key);
      } else {
        next.add(key);
      }

      return next;
    });

  return (
    <Box>
      <svg aria-label={label} role="img" style={{ maxWidth: "100%" }} viewBox={`0 0 ${W} ${H}`} width={W}>
        <Axes days={points.map((p) => p.day)} max={max} />
        {points.map((p, i) => {
          let y = PAD.top + innerH;

          return (
            <g key={p.day}>
              {keys.map((k, index) => {
                const value = hidden.has(k) ? 0 : (p.values[k] ?? 0);
                const h = (value / max) * innerH;

                y -= h;

                return value > 0 ? (
                  <rect
                    data-testid="chart-bar"
                    fill={seriesColor(index)}
                    height={h}
                    key={k}
                    onMouseEnter={() => setTip(`${p.day} · ${k}: ${value}`)}
                    onMouseLeave={() => setTip(undefined)}
                    width={Math.max(band * 0.7, 1)}
                    x={PAD.left + band * i + band * 0.15}
                    y={y}
                  >
                    <title>{`${p.day} · ${k}: ${value}`}</title>
                  </rect>
                ) : null;
              })}
            </g>
          );
        })}
      </svg>
      <Legend hidden={hidden} keys={keys} onToggle={toggle} />
      <Tip text={tip} />
    </Box>
  );
};

/** One line per series over the days. */
export const Lines = ({ keys, label, points, unit = "" }: { keys: string[]; label: string; points: DayPoint[]; unit?: string }) => {
  const [hidden, setHidden] = useState<Set<string>>(new Set());
  const [tip, setTip] = useState<string>();
  const shown = keys.filter((k) => !hidden.has(k));
  const max = niceMax(Math.max(0, ...points.flatMap((p) => shown.map((k) => p.values[k] ?? 0))));
  const innerH = H - PAD.top - PAD.bottom;
  const band = (W - PAD.left - PAD.right) / Math.max(points.length, 1);
  const x = (i: number) => PAD.left + band * (i + 0.5);
  const y = (v: number) => PAD.top + innerH - (v / max) * innerH;
  const toggle = (key: string) =>
    setHidden((previous) => {
      const next = new Set(previous);

      if (next.has(key)) {
        next.delete(key);
      } else {
        next.add(key);
      }

      return next;
    });

  return (
    <Box>
      <svg aria-label={label} role="img" style={{ maxWidth: "100%" }} viewBox={`0 0 ${W} ${H}`} width={W}>
        <Axes days={points.map((p) => p.day)} max={max} />
        {keys.map((k, index) => {
          if (hidden.has(k)) {
            return null;
          }
          const present = points.map((p, i) => [i, p.values[k]] as const).filter(([, v]) => v !== undefined) as [number, number][];

          return (
            <g key={k}>
              <polyline fill="none" points={present.map(([i, v]) => `${x(i)},${y(v)}`).join(" ")} stroke={seriesColor(index)} strokeWidth={2} />
              {present.map(([i, v]) => (
                <circle
                  cx={x(i)}
                  cy={y(v)}
                  data-testid="chart-point"
                  fill={seriesColor(index)}
                  key={i}
                  onMouseEnter={() => setTip(`${points[i]?.day ?? ""} · ${k}: ${short(v)}${unit}`)}
                  onMouseLeave={() => setTip(undefined)}
                  r={4}
                >
                  <title>{`${points[i]?.day ?? ""} · ${k}: ${short(v)}${unit}`}</title>
                </circle>
              ))}
            </g>
          );
        })}
      </svg>
      <Legend hidden={hidden} keys={keys} onToggle={toggle} />
      <Tip text={tip} />
    </Box>
  );
};

/** Horizontal bars, largest first (e.g. top labels). */
export const HBars = ({ items, label }: { items: { name: string; value: number }[]; label: string }) => {
  const max = Math.max(1, ...items.map((i) => i.value));

  return (
    <Box aria-label={label} as="ul" listStyleType="none" m={0} p={0} role="list">
      {items.length === 0 ? <Text color="fg.muted">Nothing yet.</Text> : null}
      {items.map((item) => (
        <Flex align="center" as="li" fontSize="sm" gap={2} key={item.name} mb={1} title={`${item.name}: ${item.value}`}>
          <Text lineClamp={1} textAlign="end" w="32">
            {item.name}
          </Text>
          <Box flex="1">
            <Box bg="colorPalette.solid" colorPalette="blue" borderRadius="sm" h={3} w={`${(item.value / max) * 100}%`} />
          </Box>
          <Text color="fg.muted" textAlign="end" w="12">
            {item.value}
          </Text>
        </Flex>
      ))}
    </Box>
  );
};
