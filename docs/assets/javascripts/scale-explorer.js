// The interactive figure of the "why" page (its markup: docs/hooks/scale_explorer.py). The reader
// picks an init, an activation and a depth; three charts show the RMS of the activations, of the
// gradients with respect to them and of the weights' gradients at every layer, on a log axis:
// every init of that activation and depth as a thin line, the chosen one thick and marked. The
// caption (a live region, read out when it changes) and the table say the same in words and
// numbers. The data was computed when the site was built; it is fetched from this site when the
// figure comes near the screen, or when a control is used. No library, nothing from another host.
(() => {
  const root = document.getElementById("scale-explorer");
  if (!root) return;
  const form = root.querySelector("form");
  const summary = document.getElementById("scale-explorer-summary");
  const configuration = document.getElementById("scale-explorer-configuration");
  const rows = document.getElementById("scale-explorer-rows");
  const panels = [...root.querySelectorAll(".paraminit-explorer__panel")];
  const legend = [...root.querySelectorAll(".paraminit-explorer__legend li")];
  const SVG = "http://www.w3.org/2000/svg";
  const MARGIN = { left: 44, right: 10, top: 10, bottom: 36 };
  let data = null;
  let loading = null;

  // 3 significant digits, as docs/hooks/scale_explorer.py writes them (`number` there): 0.978,
  // 395, 3.95e-48, 4.27e+03.
  const number = (x) => {
    const exponential = x.toExponential(2);
    const exponent = Number(exponential.split("e")[1]);
    if (exponent >= -3 && exponent < 3) return x.toFixed(2 - exponent);
    return exponential.replace(/e([+-])(\d)$/, "e$10$2");
  };

  const chosen = () => {
    const values = new FormData(form);
    return {
      init: values.get("init"),
      activation: values.get("activation"),
      depth: Number(values.get("depth")),
    };
  };

  const named = ({ init, activation, depth }) =>
    `${init}, activation ${data.activations[activation]}, ${depth} layers`;

  // The caption, as docs/hooks/scale_explorer.py writes it for the default (`summary` there).
  const describe = (config) => {
    const { h, g, w } = data.runs[config.activation][config.depth][config.init];
    const last = config.depth - 1;
    return (
      `${named(config)}: ` +
      `activation RMS ${number(h[0])} at layer 1 and ${number(h[last])} at layer ${config.depth}; ` +
      `gradient RMS ${number(g[last])} at layer ${config.depth} and ${number(g[0])} at layer 1; ` +
      `weight-gradient RMS ${number(w[last])} at layer ${config.depth} and ${number(w[0])} at layer 1.`
    );
  };

  const element = (name, attributes, parent) => {
    const node = document.createElementNS(SVG, name);
    for (const [key, value] of Object.entries(attributes)) node.setAttribute(key, value);
    parent.appendChild(node);
    return node;
  };

  // The log axis shared by the three charts: whole decades from below the smallest value of any
  // init to above the largest, ticked every `step` decades, at most `ticks` ticks.
  const logAxis = (runs, ticks) => {
    let low = Infinity;
    let high = -Infinity;
    for (const run of Object.values(runs)) {
      for (const values of [run.h, run.g, run.w]) {
        for (const v of values) {
          const log = Math.log10(v);
          low = Math.min(low, log);
          high = Math.max(high, log);
        }
      }
    }
    const span = Math.max(Math.ceil(high) - Math.floor(low), 2);
    const step = [1, 2, 3, 4, 5, 6, 8, 10, 12, 15, 20, 25, 30, 40, 50, 60, 80, 100].find(
      (s) => Math.ceil(span / s) + 1 <= ticks,
    );
    low = Math.floor(Math.floor(low) / step) * step;
    high = Math.ceil(Math.ceil(high) / step) * step;
    if (high === low) high = low + step;
    return { low, high, step };
  };

  // Layers to tick: 1 and the multiples of a round step, about five in all.
  const layerTicks = (depth) => {
    const step = [1, 2, 5, 10, 20, 50, 100].find((s) => s >= depth / 5);
    const ticks = [1];
    for (let layer = step; layer <= depth; layer += step) {
      if (layer - 1 >= 0.6 * step) ticks.push(layer);
    }
    return ticks;
  };

  const power = (parent, exponent, attributes) => {
    const label = element("text", attributes, parent);
    if (exponent === 0) {
      label.textContent = "1";
      return;
    }
    label.textContent = "10";
    if (exponent !== 1) {
      const sup = element("tspan", { dy: "-0.5em", class: "paraminit-explorer__exponent" }, label);
      sup.textContent = String(exponent).replace("-", "\u2212");
    }
  };

  const drawPanel = (panel, config, axis) => {
    const svg = panel.querySelector("svg");
    const width = svg.clientWidth;
    const height = svg.clientHeight;
    svg.replaceChildren();
    if (!width || !height) return;
    svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
    const key = panel.dataset.values;
    const box = {
      left: MARGIN.left,
      top: MARGIN.top,
      width: width - MARGIN.left - MARGIN.right,
      height: height - MARGIN.top - MARGIN.bottom,
    };
    const x = (layer) => box.left + ((layer - 1) / (config.depth - 1)) * box.width;
    const y = (log) => box.top + ((axis.high - log) / (axis.high - axis.low)) * box.height;
    // What the chart shows, for a reader of the markup (and the tests): the configuration, and
    // where its axes put a layer and a value.
    svg.dataset.config = `${config.init}|${config.activation}|${config.depth}`;
    svg.dataset.box = `${box.left} ${box.top} ${box.width} ${box.height}`;
    svg.dataset.axis = `${axis.low} ${axis.high}`;

    const axes = element("g", { class: "paraminit-explorer__axes" }, svg);
    for (let exponent = axis.low; exponent <= axis.high; exponent += axis.step) {
      const at = y(exponent);
      element("line", { x1: box.left, x2: box.left + box.width, y1: at, y2: at, class: "grid" }, axes);
      power(axes, exponent, { x: box.left - 5, y: at, "text-anchor": "end", dy: "0.35em" });
    }
    for (const layer of layerTicks(config.depth)) {
      const at = x(layer);
      const bottom = box.top + box.height;
      element("line", { x1: at, x2: at, y1: bottom, y2: bottom + 4, class: "tick" }, axes);
      element("text", { x: at, y: bottom + 16, "text-anchor": "middle" }, axes).textContent = layer;
    }
    element("rect", { ...{ x: box.left, y: box.top }, width: box.width, height: box.height, class: "frame" }, axes);
    const label = element("text", { x: box.left + box.width / 2, y: height - 4, "text-anchor": "middle" }, axes);
    label.textContent = "layer ";
    element("tspan", { "font-style": "italic" }, label).textContent = "l";

    const runs = data.runs[config.activation][config.depth];
    const order = data.inits.filter((name) => name !== config.init).concat([config.init]);
    for (const name of order) {
      const index = data.inits.indexOf(name) + 1;
      const values = runs[name][key];
      const points = values.map((v, i) => `${x(i + 1).toFixed(1)},${y(Math.log10(v)).toFixed(1)}`);
      const isChosen = name === config.init;
      const line = element(
        "polyline",
        {
          points: points.join(" "),
          class: `paraminit-explorer__line series-${index}${isChosen ? " is-chosen" : ""}`,
        },
        svg,
      );
      line.dataset.init = name;
      if (isChosen) {
        const every = Math.max(1, Math.round(config.depth / 10));
        for (let layer = 1; layer <= config.depth; layer += every) {
          element(
            "circle",
            {
              cx: x(layer),
              cy: y(Math.log10(values[layer - 1])),
              r: 3.5,
              class: `paraminit-explorer__marker series-${index}`,
            },
            svg,
          );
        }
      }
    }
  };

  const draw = () => {
    if (!data) return;
    const config = chosen();
    const runs = data.runs[config.activation][config.depth];
    const height = panels[0].querySelector("svg").clientHeight;
    const axis = logAxis(runs, Math.max(3, Math.floor((height - MARGIN.top - MARGIN.bottom) / 24) + 1));
    for (const panel of panels) drawPanel(panel, config, axis);
  };

  const update = () => {
    if (!data) return;
    const config = chosen();
    draw();
    const text = describe(config);
    if (summary.textContent !== text) summary.textContent = text;
    const name = named(config);
    if (configuration.textContent !== name) {
      configuration.textContent = name;
      const { h, g, w } = data.runs[config.activation][config.depth][config.init];
      rows.replaceChildren(
        ...h.map((_, i) => {
          const row = document.createElement("tr");
          for (const cell of [String(i + 1), number(h[i]), number(g[i]), number(w[i])]) {
            row.appendChild(document.createElement("td")).textContent = cell;
          }
          return row;
        }),
      );
    }
    for (const item of legend) item.classList.toggle("is-chosen", item.dataset.init === config.init);
  };

  const load = () => {
    loading ||= fetch(root.dataset.src)
      .then((response) => {
        if (!response.ok) throw new Error(`${response.status} ${response.url}`);
        return response.json();
      })
      .then((loaded) => {
        data = loaded;
        root.dataset.state = "ready";
        update();
      })
      .catch((error) => {
        root.dataset.state = "failed";
        summary.textContent = `The charts could not be drawn (${error.message}); the table below shows ${configuration.textContent}.`;
      });
    root.dataset.state = data ? "ready" : "loading";
    return loading;
  };

  form.addEventListener("submit", (event) => event.preventDefault());
  form.addEventListener("change", () => (data ? update() : load()));
  form.addEventListener("focusin", load);
  if ("IntersectionObserver" in window) {
    const near = new IntersectionObserver(
      (entries) => {
        if (entries.some((entry) => entry.isIntersecting)) {
          near.disconnect();
          load();
        }
      },
      { rootMargin: "800px 0px" },
    );
    near.observe(root);
  } else {
    load();
  }
  if ("ResizeObserver" in window) {
    let width = 0;
    new ResizeObserver((entries) => {
      const now = entries[0].contentRect.width;
      if (now !== width) {
        width = now;
        draw();
      }
    }).observe(root.querySelector(".paraminit-explorer__panels"));
  }
})();
