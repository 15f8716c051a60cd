"""The fixed CSS of report and viewer pages (no network, no external URL); the chart script is
``static/charts.js``."""

from __future__ import annotations

CSS = """
:root{color-scheme:light}*{box-sizing:border-box}
body{margin:0;font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif;
color:#1e293b;background:#f8fafc}header.top{background:#fff;border-bottom:1px solid #e2e8f0;padding:12px 24px}
header.top h1{font-size:18px;margin:0;font-weight:600;overflow-wrap:anywhere}
main{max-width:1200px;margin:0 auto;padding:16px 24px 48px}h2{font-size:16px;margin:28px 0 10px;font-weight:600}
h3{font-size:14px;margin:16px 0 6px;font-weight:600;overflow-wrap:anywhere}
section.card,figure.metric{background:#fff;border:1px solid #e2e8f0;border-radius:8px;padding:12px 16px;margin:0 0 14px}
.muted{color:#64748b}.small{font-size:12px}table{border-collapse:collapse;font-size:13px;max-width:100%}
th,td{text-align:left;padding:3px 10px 3px 0;vertical-align:top;overflow-wrap:anywhere}
th{font-weight:600;color:#475569}table.grid th,table.grid td{border-bottom:1px solid #f1f5f9;padding:4px 10px 4px 0}
td.num,th.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap;overflow-wrap:normal}
.facts{display:grid;grid-template-columns:max-content 1fr;gap:2px 14px;margin:6px 0}
.facts dt{color:#64748b}.facts dd{margin:0;overflow-wrap:anywhere}
.status{display:inline-block;border-radius:10px;padding:0 8px;font-size:12px;font-weight:600;
background:#e2e8f0;color:#334155;vertical-align:middle}
.status-running{background:#dbeafe;color:#1d4ed8}.status-completed{background:#dcfce7;color:#15803d}
.status-failed{background:#fee2e2;color:#b91c1c}.status-lost{background:#fef3c7;color:#92400e}
.status-terminated{background:#f1f5f9;color:#475569}
.tag{display:inline-block;background:#eef2ff;color:#3730a3;border-radius:4px;padding:0 6px;margin:0 4px 2px 0;font-size:12px}
.swatch{display:inline-block;width:10px;height:10px;border-radius:2px;margin-right:6px;vertical-align:baseline}
.c0{background:#2563eb}.c1{background:#dc2626}.c2{background:#059669}.c3{background:#d97706}.c4{background:#7c3aed}
.c5{background:#0891b2}.c6{background:#db2777}.c7{background:#65a30d}.c8{background:#475569}.c9{background:#ea580c}
figure.metric{display:flex;flex-wrap:wrap;gap:12px;align-items:flex-start}
.chart-box{flex:1 1 520px;min-width:0;position:relative}.chart-box svg{display:block;user-select:none}
table.summary{flex:0 1 380px}.zoom{display:flex;gap:4px;margin-top:4px}
.zoom button{font:inherit;font-size:12px;border:1px solid #cbd5e1;background:#fff;border-radius:4px;padding:0 8px;cursor:pointer}
img.attachment{max-width:100%;max-height:360px;border:1px solid #e2e8f0;border-radius:4px;display:block;margin:6px 0}
details summary{cursor:pointer;color:#334155}
.lvl-error,.lvl-critical{color:#b91c1c;font-weight:600}.lvl-warning{color:#b45309}.err{color:#b91c1c}
.note{color:#64748b;font-size:12px;margin:4px 0}svg.chart .sel{fill:#3b82f6;fill-opacity:.12}.scroll{overflow-x:auto}
.runs{display:grid;grid-template-columns:repeat(auto-fill,minmax(340px,1fr));gap:14px;align-items:start}
.runs section.card{margin:0}
.chart-tools{display:flex;flex-wrap:wrap;gap:6px 16px;align-items:center;margin:0 0 12px;font-size:13px}
.chart-tools input[type=search]{font:inherit;padding:2px 6px;min-width:220px}
.chart-title{font-weight:600;font-size:13px;margin:0 0 4px;overflow-wrap:anywhere}
.chart-host{min-height:240px}.chart-legend{display:flex;flex-wrap:wrap;gap:2px 10px;margin-top:4px}
.legend-item{font:inherit;font-size:12px;border:0;background:none;padding:1px 4px;cursor:pointer;text-align:left;
border-radius:4px;max-width:100%;overflow-wrap:anywhere}.legend-item:hover{background:#f1f5f9}
.legend-item.off{opacity:.4;text-decoration:line-through}.legend-value{margin-left:6px;color:#475569;
font-variant-numeric:tabular-nums}section.metric-group h3{margin-top:10px}[hidden]{display:none!important}
.media-grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(420px,1fr));gap:12px;align-items:start}
h4{font-size:13px;margin:12px 0 6px;font-weight:600;color:#475569}
figure.media{margin:0;border:1px solid #f1f5f9;border-radius:6px;padding:8px 10px;min-width:0}
figure.media-table,figure.media-histogram{grid-column:1/-1}
img.media-image{max-width:100%;max-height:420px;min-height:96px;width:auto;object-fit:contain;display:block;margin:6px 0;image-rendering:pixelated;
border:1px solid #e2e8f0;border-radius:4px}
.step-tools{display:flex;align-items:center;gap:8px;font-size:13px}.step-tools input[type=range]{width:260px}
.media-boxes{display:flex;flex-wrap:wrap;gap:12px}.media-boxes>div{flex:1 1 420px;min-width:0}
figure[data-loading] .histogram-box,figure[data-loading] .table-box,figure[data-loading] img{opacity:.6}
.pager{display:flex;gap:6px;align-items:center;margin:6px 0;font-size:13px}
.pager button{font:inherit;font-size:12px;border:1px solid #cbd5e1;background:#fff;border-radius:4px;padding:1px 8px;cursor:pointer}
.pager button:disabled{opacity:.4;cursor:default}
section.constraint-group table{margin:6px 0}tr.pooled th,tr.pooled td{border-top:2px solid #e2e8f0;color:#475569}
.params-toggle summary{margin:0 0 6px}.params-count{font-weight:600;color:#1e293b}
.params-toggle:not([open])+.scroll tr.same{display:none}.params-toggle[open] .when-closed,
.params-toggle:not([open]) .when-open{display:none}table.params-table th.run-col{white-space:nowrap}
table.params-table tbody th{font-weight:500;color:#334155}tr.differs>th{box-shadow:inset 3px 0 #f59e0b;padding-left:8px}
tr.same>th{padding-left:8px}section.compare details{margin-top:10px}
form.sweep{display:flex;flex-wrap:wrap;gap:8px 16px;align-items:flex-end;margin:0 0 12px}
form.sweep label{display:flex;flex-direction:column;font-size:12px;color:#475569;gap:2px}
form.sweep select,form.sweep input{font:inherit;font-size:13px}
fieldset.axes{border:1px solid #e2e8f0;border-radius:6px;padding:4px 10px;margin:0;max-height:130px;overflow:auto;
flex:1 1 100%;display:flex;flex-wrap:wrap;gap:2px 14px;font-size:12px}fieldset.axes label{flex-direction:row;gap:4px;align-items:center}
svg.sweep{display:block;max-width:100%;height:auto}svg.sweep .run{cursor:pointer}
svg.sweep path.run{fill:none;stroke-width:1.4}svg.sweep path.run.hot{stroke-width:3.5;stroke-opacity:1}
svg.sweep circle.run{stroke:#fff;stroke-width:1}svg.sweep circle.run.hot{stroke:#0f172a;stroke-width:2}
.sweep-tip{position:fixed;z-index:10;pointer-events:none;background:#0f172a;color:#f8fafc;font-size:12px;
padding:6px 8px;border-radius:6px;white-space:pre;max-width:480px;overflow:hidden;box-shadow:0 2px 8px rgba(0,0,0,.25)}
.table-tools{display:flex;flex-wrap:wrap;gap:6px 18px;align-items:center;margin:8px 0;font-size:13px}
.table-tools .count{font-weight:600}.table-tools form{display:inline;margin:0}.page-link{margin-right:6px}
details.chooser{margin:8px 0}details.chooser form{background:#fff;border:1px solid #e2e8f0;border-radius:8px;
padding:8px 12px;margin-top:6px}.chooser-lists{display:flex;flex-wrap:wrap;gap:12px}
.chooser fieldset{border:1px solid #e2e8f0;border-radius:6px;max-height:260px;overflow:auto;min-width:260px;
flex:1 1 300px}.chooser label{display:inline-block;margin:0 10px 2px 0;overflow-wrap:anywhere}
.metric-choice{display:flex;flex-wrap:wrap;gap:0 8px}.metric-choice span{min-width:120px;overflow-wrap:anywhere}
table.run-list th a.sort{color:inherit;text-decoration:none}table.run-list th a.sort:hover{text-decoration:underline}
table.run-list th[aria-sort] a.sort{color:#1d4ed8}tr.group-row td{background:#f1f5f9;font-weight:600}
.group-toggle{font:inherit;border:0;background:none;cursor:pointer;padding:0 4px}
"""
