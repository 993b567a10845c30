// Dates for display, through formatters built once (a new Intl formatter per message is slow).

const TIME = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit" });
const DAY = new Intl.DateTimeFormat(undefined, { dateStyle: "medium" });
const FULL = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });

export const clock = (ts) => TIME.format(new Date(ts));
export const day = (ts) => DAY.format(new Date(ts));
export const full = (ts) => FULL.format(new Date(ts));
