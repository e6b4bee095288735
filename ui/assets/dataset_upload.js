// Dataset page: upload a zip to the app's own Flask route, with a progress bar.
//
// The file is sent as the raw request body (not base64 through a Dash callback), so the server
// streams it to disk. The limit is checked here first (and enforced by the server). When the
// server has unpacked it, the folder's path goes into the "dataset-source" field and the result
// into the "dataset-upload-result" store, which a Dash callback turns into a message.
(function () {
  "use strict";

  function setProps(id, props) {
    if (window.dash_clientside && window.dash_clientside.set_props) {
      window.dash_clientside.set_props(id, props);
    }
  }

  function formatSize(n) {
    if (n < 1024) return n + " bytes";
    const units = ["KB", "MB", "GB"];
    let value = n / 1024;
    let i = 0;
    while (value >= 1024 && i < units.length - 1) {
      value /= 1024;
      i += 1;
    }
    return value.toFixed(1) + " " + units[i];
  }

  function progress(percent, label, visible) {
    setProps("dataset-upload-progress", { value: percent, label: label });
    setProps("dataset-upload-progress-wrap", { style: { display: visible ? "block" : "none" } });
  }

  function finish(result) {
    progress(0, "", false);
    setProps("dataset-upload-button", { disabled: false });
    setProps("dataset-upload-result", { data: result });
    if (result && result.source) {
      setProps("dataset-source", { value: result.source });
    }
  }

  function upload(holder, file) {
    const url = holder.getAttribute("data-upload-url");
    const maxBytes = Number(holder.getAttribute("data-max-bytes"));
    const maxText = holder.getAttribute("data-max-text");
    if (!/\.zip$/i.test(file.name)) {
      finish({ error: file.name + " is not a .zip file: choose a zip archive." });
      return;
    }
    if (maxBytes && file.size > maxBytes) {
      finish({
        error:
          file.name + " is " + formatSize(file.size) + ": uploads are limited to " + maxText +
          " (settings.json: max_upload_mb). Import it from a folder on this machine instead.",
      });
      return;
    }
    setProps("dataset-upload-result", { data: null });
    setProps("dataset-upload-button", { disabled: true });
    progress(0, "Uploading " + file.name + "…", true);
    const xhr = new XMLHttpRequest();
    xhr.open("POST", url);
    xhr.setRequestHeader("X-Requested-With", "aistudio");
    xhr.setRequestHeader("X-Filename", encodeURIComponent(file.name));
    xhr.setRequestHeader("Content-Type", "application/zip");
    xhr.upload.onprogress = function (event) {
      if (!event.lengthComputable) return;
      const percent = Math.round((100 * event.loaded) / event.total);
      progress(percent, percent < 100 ? percent + " %" : "Unpacking…", true);
    };
    xhr.onload = function () {
      let body = null;
      try {
        body = JSON.parse(xhr.responseText);
      } catch (err) {
        body = null;
      }
      if (xhr.status === 200 && body && body.source) {
        finish(body);
      } else {
        const reason = (body && body.error) || "the server answered " + xhr.status;
        finish({ error: "The upload failed: " + reason });
      }
    };
    xhr.onerror = function () {
      finish({ error: "The upload failed: the connection to the app was lost." });
    };
    xhr.send(file);
  }

  document.addEventListener("click", function (event) {
    const button = event.target.closest && event.target.closest("#dataset-upload-button");
    if (!button || button.disabled) return;
    const holder = document.getElementById("dataset-upload");
    if (!holder) return;
    const input = document.createElement("input");
    input.type = "file";
    input.accept = ".zip,application/zip";
    input.addEventListener("change", function () {
      if (input.files && input.files[0]) upload(holder, input.files[0]);
    });
    input.click();
  });
})();
