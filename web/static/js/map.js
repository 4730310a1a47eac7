/* The regional map. Offline by default: a neutral background with a graticule and province labels from
   /static/geo/provinces.json; a tile server is used only when ISX_MAP_TILE_URL is set. Parks, firms and
   listings come from /map/data (filtered by the form, or by the box's data-params where there is no form);
   the links layer draws exchange links (open proposals dashed, deals solid, colour by material family,
   width by tonnage; a click opens the details) and keystone firms of the network are drawn larger. */
(function () {
  "use strict";

  var CHINA = [[18, 73], [54, 135]];
  var FAMILY_COLOURS = {
    ash: "#6b7280", slag: "#9a3412", gypsum: "#0e7490", tailings: "#a16207", mining_waste: "#57534e",
    heat: "#dc2626", gas: "#7c3aed", residue: "#be185d", chemical: "#4338ca", water: "#0284c7"
  };

  function el(tag, cls, text) {
    var node = document.createElement(tag);
    if (cls) { node.className = cls; }
    if (text !== undefined && text !== null) { node.textContent = text; }
    return node;
  }

  function number(v) {
    return Number(v).toLocaleString(document.body.dataset.locale === "en" ? "en" : "zh-CN", { maximumFractionDigits: 0 });
  }

  function init() {
    var box = document.getElementById("map");
    if (!box || !window.L) { return; }
    var L = window.L;
    var labels = JSON.parse(box.dataset.labels || "{}");
    var form = box.dataset.form ? document.getElementById(box.dataset.form) : null;
    var count = document.getElementById("map-count");
    // No zoom animation: a stuck CSS transition (seen in headless Chromium) would freeze every later zoom.
    var map = L.map(box, { minZoom: 3, maxZoom: 14, zoomSnap: 0.5, zoomAnimation: false, fadeAnimation: false,
                           attributionControl: !!box.dataset.tileUrl });
    map.fitBounds(CHINA);

    if (box.dataset.tileUrl) {
      L.tileLayer(box.dataset.tileUrl, { attribution: box.dataset.attribution || "", maxZoom: 18 }).addTo(map);
    } else {
      box.classList.add("offline");
      drawGraticule(L, map);
      fetch(box.dataset.provinces).then(function (r) { return r.json(); }).then(function (geo) {
        drawProvinces(L, map, geo, box.dataset.locale);
      }).catch(function () { /* labels are a nicety; the map works without them */ });
    }

    var linksOnly = box.dataset.focus === "links";  // the run review: its proposals, not every listing
    var layers = {
      parks: L.layerGroup().addTo(map),
      firms: L.layerGroup().addTo(map),
      listings: linksOnly ? L.layerGroup() : L.layerGroup().addTo(map),
      links: L.layerGroup().addTo(map)
    };
    var overlays = {};
    overlays[labels.layers_parks] = layers.parks;
    overlays[labels.layers_firms] = layers.firms;
    overlays[labels.layers_listings] = layers.listings;
    overlays[labels.layers_links] = layers.links;
    L.control.layers(null, overlays, { collapsed: false }).addTo(map);
    L.control.scale({ imperial: false }).addTo(map);

    var first = true;
    function load() {
      var params = form ? new URLSearchParams(new FormData(form)) : new URLSearchParams(box.dataset.params || "");
      Array.from(params.keys()).forEach(function (k) { if (!params.get(k)) { params.delete(k); } });
      box.dataset.loaded = "false";
      fetch(box.dataset.url + "?" + params.toString(), { credentials: "same-origin", headers: { "Accept": "application/json" } })
        .then(function (r) { if (!r.ok) { throw new Error(r.status); } return r.json(); })
        .then(function (data) {
          draw(L, map, layers, data, labels);
          var shown = data.listings.length;
          var links = (data.links || []).length;
          if (count) {
            count.textContent = (count.dataset.template || "{n}").replace("{n}", form ? shown : links)
              .replace("{links}", links);
          }
          box.dataset.listings = String(shown);
          box.dataset.links = String(links);
          box.dataset.loaded = "true";
          renderList(data, labels);
          renderKeystones(data);
          var focused = params.get("material") || params.get("status");
          if ((first && linksOnly || form && focused) && (data.links || []).length) {
            map.fitBounds(linkBounds(L, data.links), { padding: [40, 40], maxZoom: 12, animate: false });
          } else if (first && data.parks.length) {
            map.fitBounds(boundsOf(L, data), { padding: [30, 30], maxZoom: 7 });
          }
          first = false;
          if (form) {
            var query = params.toString();
            window.history.replaceState(null, "", window.location.pathname + (query ? "?" + query : ""));
          }
        })
        .catch(function () { count.textContent = labels.error; box.dataset.loaded = "error"; });
    }
    if (form) {
      form.addEventListener("change", load);
      form.addEventListener("submit", function (event) { event.preventDefault(); load(); });
    }
    load();
  }

  function linkBounds(L, links) {
    var points = [];
    links.forEach(function (x) { points.push([x.from_lat, x.from_lon], [x.to_lat, x.to_lon]); });
    return L.latLngBounds(points);
  }

  function boundsOf(L, data) {
    var points = data.parks.map(function (p) { return [p.lat, p.lon]; })
      .concat(data.listings.map(function (x) { return [x.lat, x.lon]; }))
      .concat((data.links || []).map(function (x) { return [x.from_lat, x.from_lon]; }));
    return L.latLngBounds(points);
  }

  function drawGraticule(L, map) {
    for (var lat = 15; lat <= 55; lat += 5) {
      L.polyline([[lat, 70], [lat, 140]], { className: "graticule", interactive: false, weight: 1 }).addTo(map);
      L.marker([lat, 72], { icon: L.divIcon({ className: "graticule-label", html: lat + "°N", iconSize: null }), interactive: false, keyboard: false }).addTo(map);
    }
    for (var lon = 70; lon <= 140; lon += 5) {
      L.polyline([[15, lon], [55, lon]], { className: "graticule", interactive: false, weight: 1 }).addTo(map);
      L.marker([16, lon], { icon: L.divIcon({ className: "graticule-label", html: lon + "°E", iconSize: null }), interactive: false, keyboard: false }).addTo(map);
    }
  }

  function drawProvinces(L, map, geo, locale) {
    (geo.features || []).forEach(function (f) {
      var c = f.geometry.coordinates;
      var label = el("span", null, locale === "en" ? f.properties.name_en : f.properties.name_zh);
      L.marker([c[1], c[0]], {
        icon: L.divIcon({ className: "province-label", html: label, iconSize: null }), interactive: false, keyboard: false
      }).addTo(map);
    });
  }

  function popup(title, lines, link) {
    var node = el("div", "popup");
    node.appendChild(el("strong", null, title));
    lines.forEach(function (line) { if (line) { node.appendChild(el("div", null, line)); } });
    if (link) {
      var a = el("a", null, link.text);
      a.href = link.href;
      node.appendChild(a);
    }
    return node;
  }

  function quantity(x, labels) {
    var per = x.period === "year" ? labels.per_year : " " + labels.once;
    if (x.quantity !== null) { return number(x.quantity) + " " + x.unit + per; }
    var b = x.band || {};
    return number(b.min) + "–" + (b.max ? number(b.max) : "∞") + " " + x.unit + per;
  }

  function draw(L, map, layers, data, labels) {
    Object.keys(layers).forEach(function (k) { layers[k].clearLayers(); });
    data.parks.forEach(function (p) {
      L.circleMarker([p.lat, p.lon], { radius: 11, className: "park-marker", weight: 2 })
        .bindPopup(popup(p.name, [labels.park + " · " + p.province]))
        // a node, not a string: Leaflet inserts string content as HTML, and a park's name is user input
        .bindTooltip(el("span", null, p.name)).addTo(layers.parks);
    });
    data.firms.forEach(function (f) {
      L.circleMarker([f.lat, f.lon], { radius: f.keystone ? 9 : 4, className: "firm-marker" + (f.keystone ? " keystone" : ""), weight: f.keystone ? 3 : 1 })
        .bindPopup(popup(f.name, [labels.firm + " · " + f.site, f.keystone ? labels.keystone : null], { href: "/firms/" + f.id, text: labels.open_firm }))
        .addTo(layers.firms);
    });
    data.listings.forEach(function (x) {
      var cls = "listing-marker listing-" + x.kind + (x.anonymised ? " listing-anonymous" : "");
      var title = x.material_name + " · " + (x.kind === "have" ? labels.have : labels.want);
      L.circleMarker([x.lat, x.lon], { radius: 7, className: cls, weight: 2 })
        .bindPopup(popup(title, [quantity(x, labels), x.anonymised ? labels.anonymous : x.firm]))
        .addTo(layers.listings);
    });
    (data.links || []).forEach(function (link) {
      var weight = Math.max(1.5, Math.min(10, Math.log10(Math.max(link.tonnes || link.quantity || 1, 1)) * 1.2));
      var proposal = link.kind === "proposal";
      var lines = [
        (proposal ? labels.proposal : labels.deal + " · " + link.status),
        (link.source || labels.anonymous) + " → " + (link.target || labels.anonymous),
        (link.approximate ? "≥ " : "") + number(link.quantity) + " " + link.unit + labels.per_year,
        number(link.distance_km) + " km · " + (link.mode || "")
      ];
      L.polyline([[link.from_lat, link.from_lon], [link.to_lat, link.to_lon]], {
        className: "link link-" + (proposal ? "proposal" : "deal") + " link-status-" + link.status,
        color: FAMILY_COLOURS[link.family] || "#334155",
        weight: weight, dashArray: proposal ? "6 6" : null
      }).bindPopup(popup(link.label || "", lines, link.deal_id ? { href: "/deals/" + link.deal_id, text: labels.open_deal } : null))
        .addTo(layers.links);
    });
  }

  // Keystone firms of the (filtered) network, named beside the map.
  function renderKeystones(data) {
    var list = document.getElementById("map-keystones");
    if (!list) { return; }
    list.textContent = "";
    (data.keystones || []).forEach(function (k) {
      list.appendChild(el("li", "keystone-item", k.label + " · " + k.degree));
    });
    list.dataset.count = String((data.keystones || []).length);
  }

  // The same listings as a list under the map: for keyboards and screen readers.
  function renderList(data, labels) {
    var list = document.getElementById("map-list");
    if (!list) { return; }
    list.textContent = "";
    data.listings.forEach(function (x) {
      var item = el("li", "map-list-item");
      item.appendChild(el("span", "badge kind-" + x.kind, x.kind === "have" ? labels.have : labels.want));
      item.appendChild(document.createTextNode(" " + x.material_name + " · " + quantity(x, labels) + " · "
        + (x.anonymised ? labels.anonymous : x.firm)));
      list.appendChild(item);
    });
  }

  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", init); } else { init(); }
})();
