// The view library in one place: Preact's h/render, htm's tagged templates, the hooks.
import { h, render, Fragment, createRef, Component } from "../vendor/preact.module.js";
import htm from "../vendor/htm.module.js";

export const html = htm.bind(h);
export { h, render, Fragment, createRef, Component };
export {
  useState, useEffect, useLayoutEffect, useRef, useMemo, useCallback,
} from "../vendor/hooks.module.js";
