// Client-side callbacks of the shell: the light/dark theme (Bootstrap 5.3 colour modes).
window.dash_clientside = Object.assign({}, window.dash_clientside, {
  aistudio: {
    toggleTheme: function (nClicks, theme) {
      return theme === "dark" ? "light" : "dark";
    },
    applyTheme: function (theme) {
      const mode = theme === "dark" ? "dark" : "light";
      document.documentElement.setAttribute("data-bs-theme", mode);
      return mode === "dark" ? "bi bi-sun" : "bi bi-moon-stars";
    },
  },
});
