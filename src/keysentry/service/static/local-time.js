// Every <time datetime> of the dashboard in the reader's local time ("2026-12-07 05:12:33 CET"); the
// UTC the server wrote stays in the title, shown on hover.  Text only: nothing here builds HTML.
(function () {
  "use strict";
  var pad = function (n) { return (n < 10 ? "0" : "") + n; };
  var zone = function (d) {
    var parts = new Intl.DateTimeFormat(undefined, { timeZoneName: "short" }).formatToParts(d);
    for (var i = 0; i < parts.length; i++) {
      if (parts[i].type === "timeZoneName") { return parts[i].value; }
    }
    return "";
  };
  var times = document.querySelectorAll("time[datetime]");
  for (var i = 0; i < times.length; i++) {
    var d = new Date(times[i].getAttribute("datetime"));
    if (isNaN(d.getTime())) { continue; }
    times[i].textContent = d.getFullYear() + "-" + pad(d.getMonth() + 1) + "-" + pad(d.getDate()) + " " +
      pad(d.getHours()) + ":" + pad(d.getMinutes()) + ":" + pad(d.getSeconds()) + " " + zone(d);
    times[i].classList.add("local");
  }
})();
