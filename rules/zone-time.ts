// Wall-clock time in a clinic's IANA time zone, from Intl (one formatter per zone, kept): the parts of an instant's
// local time, its local date, and the instant a local wall time begins. Pure; outcome analytics (its day buckets) and
// the access flags (working hours) both count in the clinic's zone through it.

const formatters = new Map<string, Intl.DateTimeFormat>();

/** An instant's local wall time in a zone, as Intl parts: year, month, day, hour, minute, second (2 digits), weekday. */
export function zoneParts(ms: number, timeZone: string): Record<string, string> {
  let f = formatters.get(timeZone);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', {
      timeZone,
      hourCycle: 'h23',
      year: 'numeric',
      month: '2-digit',
      day: '2-digit',
      hour: '2-digit',
      minute: '2-digit',
      second: '2-digit',
      weekday: 'short',
    });
    formatters.set(timeZone, f);
  }
  return Object.fromEntries(f.formatToParts(new Date(ms)).map((x) => [x.type, x.value]));
}

/** The zone's offset from UTC at an instant, in ms (local wall time − UTC). */
function offsetAt(ms: number, timeZone: string): number {
  const p = zoneParts(ms, timeZone);
  const wall = Date.UTC(
    Number(p.year),
    Number(p.month) - 1,
    Number(p.day),
    Number(p.hour),
    Number(p.minute),
    Number(p.second),
  );
  return wall - Math.floor(ms / 1000) * 1000;
}

/**
 * The instant a local wall time `HH:MM` of `date` begins in a zone, ISO-8601 UTC (a time DST skips: the first instant
 * after the gap).
 */
export function instantOfLocal(date: string, time: string, timeZone: string): string {
  const wall = Date.parse(`${date}T${time}:00Z`);
  let t = wall - offsetAt(wall, timeZone);
  t = wall - offsetAt(t, timeZone);
  return new Date(t).toISOString();
}

/** The local date (YYYY-MM-DD) of an instant in a zone. */
export function localDateOf(iso: string, timeZone: string): string {
  const p = zoneParts(Date.parse(iso), timeZone);
  return `${p.year}-${p.month}-${p.day}`;
}
