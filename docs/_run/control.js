// "Run in your browser": the only script an example page loads before the reader clicks. The
// click starts Python in a Web Worker (worker.js) at once (already as the button is pressed:
// pointerdown comes a tenth of a second before the click), and meanwhile imports the editor
// (editor.js), which takes the worker over; the worker's progress shows on the button until then.
(() => {
  const base = new URL(".", document.currentScript.src).href;
  for (const button of document.querySelectorAll(".run-here-button")) {
    let worker = null;
    let latest = null;
    const start = () => {
      if (worker) return;
      worker = new Worker(base + "worker.js", { type: "module" });
      worker.onmessage = ({ data }) => {
        latest = data.progress || latest;
      };
    };
    button.addEventListener("pointerdown", start, { once: true });
    button.addEventListener("click", async () => {
      button.disabled = true;
      button.textContent = "Loading the editor\u2026";
      start();
      try {
        (await import(base + "editor.js")).start(button.closest(".run-here"), base, worker, () => latest);
      } catch (error) {
        button.textContent = "Could not load the editor: " + error.message;
      }
    });
  }
})();
