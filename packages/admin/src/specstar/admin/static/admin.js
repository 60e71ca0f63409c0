// SpecStar admin: a little progressive JavaScript; every page works without it.
"use strict";
(function () {
  // "select all" checkbox of a list
  document.querySelectorAll("[data-select-all]").forEach(function (box) {
    box.addEventListener("change", function () {
      box.closest("form").querySelectorAll('input[name="ids"]').forEach(function (b) {
        b.checked = box.checked;
      });
    });
  });
  // the reference picker: suggestions from /{admin}/{target}/_options?q=
  var base = (document.querySelector("a.brand") || {}).pathname || "/admin/";
  base = base.replace(/\/$/, "");
  document.querySelectorAll("input[data-ref]").forEach(function (input) {
    var list = document.getElementById(input.getAttribute("list"));
    var timer = null;
    input.addEventListener("input", function () {
      clearTimeout(timer);
      timer = setTimeout(function () {
        var url = base + "/" + encodeURIComponent(input.dataset.ref) + "/_options?q=" +
          encodeURIComponent(input.value);
        fetch(url, { credentials: "same-origin" }).then(function (r) {
          return r.ok ? r.json() : [];
        }).then(function (items) {
          if (!list) { return; }
          list.replaceChildren();
          items.forEach(function (item) {
            var option = document.createElement("option");
            option.value = item.id;
            option.label = item.label ? item.label + " (" + item.id + ")" : item.id;
            list.appendChild(option);
          });
        }).catch(function () {});
      }, 200);
    });
  });
  // a running job's log, refreshed while it runs
  document.querySelectorAll("pre[data-live-log]").forEach(function (pre) {
    if (pre.dataset.running !== "1") { return; }
    var timer = setInterval(function () {
      fetch(pre.dataset.liveLog, { credentials: "same-origin" }).then(function (r) {
        if (!r.ok) { clearInterval(timer); return null; }
        return r.text();
      }).then(function (text) {
        if (text !== null && text !== pre.textContent) { pre.textContent = text; }
      }).catch(function () { clearInterval(timer); });
    }, 2000);
  });
})();
