// Receives the Playground's landscape image (a payload that stays identical while the surface does,
// so Streamlit's message cache answers it from the browser) and keeps it, decoded, in a page-wide
// map by id for every race view (race.js); a view waiting for it is told when it arrives.

const LANDS = (globalThis.__oeLandscapes ||= new Map());
const WAITING = (globalThis.__oeLandscapeWaiters ||= new Set());

export default function ({ data, parentElement }) {
  parentElement.textContent = "";
  if (!data || data.kind !== "landscape" || LANDS.has(data.id)) return;
  const img = new Image();
  img.onload = () => {
    LANDS.set(data.id, img);
    for (const view of [...WAITING]) view.landscapeArrived(data.id);
  };
  img.src = data.png;
}
