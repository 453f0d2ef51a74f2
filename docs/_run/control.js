// "Run in your browser": the only script an example page loads before the reader clicks. The
// click imports the editor (editor.js), which starts Python in a Web Worker.
(() => {
  const base = new URL(".", document.currentScript.src).href;
  for (const button of document.querySelectorAll(".run-here-button")) {
    button.addEventListener("click", async () => {
      button.disabled = true;
      button.textContent = "Loading the editor\u2026";
      try {
        (await import(base + "editor.js")).start(button.closest(".run-here"), base);
      } catch (error) {
        button.textContent = "Could not load the editor: " + error.message;
      }
    });
  }
})();
