"""The fixed CSS and script of report and viewer pages (no network, no external URL)."""

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
"""

_SCRIPT = """
(function(){
var body=document.body,served=body.getAttribute("data-served")==="1",
refreshUrl=body.getAttribute("data-refresh")||"",zoomed=false,busy=false;
function num(svg,k){return parseFloat(svg.getAttribute("data-"+k));}
function load(svg,start,stop){
 var q=new URLSearchParams();
 (svg.getAttribute("data-runs")||"").split(" ").forEach(function(r){if(r)q.append("run",r);});
 q.set("metric",svg.getAttribute("data-metric")||"");
 if(svg.getAttribute("data-asset"))q.set("asset",svg.getAttribute("data-asset"));
 q.set("xaxis",svg.getAttribute("data-xaxis")||"step");
 if(start!==null){q.set("start",String(start));q.set("stop",String(stop));zoomed=true;}
 fetch("/chart?"+q.toString(),{credentials:"same-origin"}).then(function(r){
  if(!r.ok)throw new Error(String(r.status));return r.text();}).then(function(text){
  var doc=new DOMParser().parseFromString(text,"image/svg+xml"),node=doc.documentElement;
  if(!node||node.nodeName.toLowerCase()!=="svg")throw new Error("not svg");
  svg.replaceWith(document.importNode(node,true));
 }).catch(function(){svg.setAttribute("data-zoom-failed","1");});
}
function window_(svg,f0,f1){var a=num(svg,"x0"),b=num(svg,"x1");return [a+(b-a)*f0,a+(b-a)*f1];}
function chartOf(el){var fig=el.closest("figure");return fig&&fig.querySelector("svg.chart");}
if(served){
 var drag=null;
 document.addEventListener("mousedown",function(e){
  var svg=e.target.closest&&e.target.closest("svg.chart");if(!svg)return;
  var box=svg.getBoundingClientRect(),w=num(svg,"width"),px=num(svg,"plot-x"),pw=num(svg,"plot-w");
  var x=(e.clientX-box.left)/box.width*w;if(x<px||x>px+pw)return;
  var sel=document.createElementNS("http://www.w3.org/2000/svg","rect");
  sel.setAttribute("class","sel");sel.setAttribute("y","0");sel.setAttribute("height","100%");
  sel.setAttribute("x",String(x));sel.setAttribute("width","0");svg.appendChild(sel);
  drag={svg:svg,box:box,w:w,px:px,pw:pw,x:x,sel:sel,cur:x};e.preventDefault();
 });
 document.addEventListener("mousemove",function(e){
  if(!drag)return;var x=(e.clientX-drag.box.left)/drag.box.width*drag.w;
  x=Math.max(drag.px,Math.min(drag.px+drag.pw,x));drag.cur=x;
  drag.sel.setAttribute("x",String(Math.min(x,drag.x)));drag.sel.setAttribute("width",String(Math.abs(x-drag.x)));
 });
 document.addEventListener("mouseup",function(){
  if(!drag)return;var d=drag;drag=null;d.sel.remove();
  if(Math.abs(d.cur-d.x)<3)return;
  var f0=(Math.min(d.cur,d.x)-d.px)/d.pw,f1=(Math.max(d.cur,d.x)-d.px)/d.pw,r=window_(d.svg,f0,f1);
  load(d.svg,r[0],r[1]);
 });
 document.addEventListener("click",function(e){
  var b=e.target.closest&&e.target.closest("button[data-zoom]");if(!b)return;
  var svg=chartOf(b);if(!svg)return;var how=b.getAttribute("data-zoom"),r;
  if(how==="reset"){load(svg,null,null);return;}
  r=how==="in"?window_(svg,0.25,0.75):window_(svg,-0.5,1.5);load(svg,r[0],r[1]);
 });
}
if(refreshUrl){
 var timer=setInterval(function(){
  if(zoomed||busy||document.hidden)return;busy=true;
  fetch(refreshUrl,{credentials:"same-origin"}).then(function(r){if(!r.ok)throw new Error(String(r.status));return r.text();})
  .then(function(text){
   var main=document.querySelector("main"),open=[];
   main.querySelectorAll("details[open][id]").forEach(function(d){open.push(d.id);});
   main.innerHTML=text;
   open.forEach(function(id){var d=document.getElementById(id);if(d)d.open=true;});
   if(!main.querySelector("h3 .status-running"))clearInterval(timer);  // every run ended: done
  }).catch(function(){}).then(function(){busy=false;});
 },__REFRESH_MS__);
}
})();
"""


def script(refresh_seconds: int) -> str:
    """The viewer's script (zoom, live refresh every ``refresh_seconds``)."""
    return _SCRIPT.replace("__REFRESH_MS__", str(refresh_seconds * 1000))
