// "Run in your browser": the only script an example page loads before the reader clicks. The
// click starts Python in a Web Worker (worker.js) at once, and meanwhile imports the editor
// (editor.js), which takes the worker over; the worker's progress shows on the button until then.
(() => {
  const base = new URL(".", document.currentScript.src).href;
  for (const button of document.querySelectorAll(".run-here-button")) {
    button.addEventListener("click", async () => {
      button.disabled = true;
      button.textContent = "Loading the editor\u2026";
      const worker = new Worker(base + "worker.js", { type: "module" });
      let latest = null;
      worker.onmessage = ({ data }) => {
        latest = data.progress || latest;
      };
      try {
        (await import(base + "editor.js")).start(button.closest(".run-here"), base, worker, () => latest);
      } catch (error) {
        button.textContent = "Could not load the editor: " + error.message;
      }
    });
  }
})();
