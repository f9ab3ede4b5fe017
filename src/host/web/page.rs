//! The web page at `/`: every process with its state, pid, uptime, restarts, last
//! exit and readiness; start, stop, restart and a live tail per process, per group
//! and for all. One self-contained document (no framework, no external asset: it
//! works with no network), readable on a phone. The table is rendered here, so the
//! page is useful without script; its script refreshes the table from
//! `/api/processes` every two seconds while the page is visible, sends actions as
//! POSTs with the `X-Requested-With` header the server requires, and follows a log
//! through `/logtail/`. A read-only server's page has no button at all.

use std::fmt::Write as _;
use std::time::SystemTime;

use crate::host::http::Response;
use crate::host::hub::Hub;
use crate::host::info::State;
use crate::host::service::Service;

/// Text escaped for HTML.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The CSS class of a state.
fn class(state: State) -> &'static str {
    match state {
        State::Running => "ok",
        State::Starting | State::Stopping | State::Backoff => "busy",
        State::Fatal | State::Unknown | State::Exited => "bad",
        State::Stopped => "idle",
    }
}

/// The buttons of one process (none on a read-only server).
fn buttons(name: &str, read_only: bool) -> String {
    let n = escape(name);
    let mut s = String::new();
    if !read_only {
        for a in ["start", "stop", "restart"] {
            let _ = write!(s, "<button data-act=\"{a}\" data-name=\"{n}\">{a}</button>");
        }
    }
    let _ = write!(s, "<button data-tail=\"{n}\">tail</button>");
    s
}

/// One row of the table.
fn row(s: &Service, now: SystemTime, read_only: bool) -> String {
    let (i, view) = super::api::read(s, now);
    let view = view.ok();
    let restarts = view
        .as_ref()
        .and_then(|v| v.starts)
        .map_or(String::new(), |n| n.saturating_sub(1).to_string());
    let last = view
        .as_ref()
        .and_then(|v| v.last_exit)
        .map_or(String::new(), |e| e.how.to_string());
    let ready = match view.as_ref() {
        Some(v) if v.readiness.is_some() && v.ready() => "ready".to_owned(),
        Some(v) if v.readiness.is_some() && v.pid.is_some() => "not ready".to_owned(),
        _ => String::new(),
    };
    format!(
        "<tr data-name=\"{n}\" data-group=\"{g}\"><td class=\"name\">{n}</td>\
         <td><span class=\"state {c}\">{st}</span></td><td class=\"desc\">{d}</td>\
         <td>{restarts}</td><td>{last}</td><td>{ready}</td><td class=\"acts\">{b}</td></tr>",
        n = escape(&s.name),
        g = escape(&s.group),
        c = class(i.state),
        st = i.state.name(),
        d = escape(&i.description),
        last = escape(&last),
        b = buttons(&s.name, read_only),
    )
}

/// The group bar: actions on each group and on all.
fn groups(services: &[Service], read_only: bool) -> String {
    if read_only {
        return String::new();
    }
    let mut names: Vec<&str> = services.iter().map(|s| s.group.as_str()).collect();
    names.sort_unstable();
    names.dedup();
    let mut s = String::from("<div class=\"groups\">");
    let mut add = |label: &str, target: &str| {
        let _ = write!(
            s,
            "<span class=\"group\"><b>{l}</b>{b}</span>",
            l = escape(label),
            b = ["start", "stop", "restart"]
                .iter()
                .map(|a| format!(
                    "<button data-act=\"{a}\" data-group=\"{}\">{a}</button>",
                    escape(target)
                ))
                .collect::<String>()
        );
    };
    add("all", "*");
    for g in names
        .iter()
        .filter(|g| services.iter().filter(|s| s.group == **g).count() > 1)
    {
        add(g, g);
    }
    s.push_str("</div>");
    s
}

/// `GET /`.
pub fn page(hub: &Hub, read_only: bool) -> Response {
    let snap = hub.snapshot();
    let mut v: Vec<&Service> = snap.services.iter().collect();
    v.sort_by(|a, b| (&a.group, &a.process).cmp(&(&b.group, &b.process)));
    let now = SystemTime::now();
    let rows: String = v.iter().map(|s| row(s, now, read_only)).collect();
    let owned: Vec<Service> = v.into_iter().cloned().collect();
    let html = TEMPLATE
        .replace("{identifier}", &escape(&snap.identifier))
        .replace("{mode}", if read_only { "read-only" } else { "" })
        .replace("{groups}", &groups(&owned, read_only))
        .replace("{rows}", &rows)
        .replace("{read_only}", if read_only { "true" } else { "false" });
    Response::bytes(200, "text/html; charset=utf-8", html)
        .with("Cache-Control", "no-store")
        .with(
            "Content-Security-Policy",
            "default-src 'self'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; frame-ancestors 'none'",
        )
        .with("X-Frame-Options", "DENY")
}

const TEMPLATE: &str = r##"<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{identifier} · supervise</title>
<style>
body{font:15px/1.4 system-ui,sans-serif;margin:0;color:#1b1b1b;background:#f6f6f4}
header{background:#23313f;color:#fff;padding:.7em 1em;display:flex;gap:1em;align-items:baseline;flex-wrap:wrap}
header h1{font-size:1.15em;margin:0}
header .mode{background:#b0721b;border-radius:3px;padding:0 .4em;font-size:.85em}
main{padding:.5em 1em}
table{border-collapse:collapse;width:100%;background:#fff}
th,td{text-align:left;padding:.35em .5em;border-bottom:1px solid #e3e3e0;vertical-align:top}
th{font-size:.8em;text-transform:uppercase;color:#666}
.name{font-weight:600;word-break:break-all}
.state{display:inline-block;border-radius:3px;padding:0 .4em;font-size:.85em;font-weight:600}
.ok{background:#d4edd9;color:#155724}.busy{background:#fff1c2;color:#6b4e00}
.bad{background:#f8d3d6;color:#7a1620}.idle{background:#e6e6e6;color:#444}
button{font:inherit;font-size:.85em;margin:0 .2em .2em 0;padding:.15em .6em;border:1px solid #9aa5b1;border-radius:3px;background:#fff;cursor:pointer}
button:hover{background:#eef2f6}
.groups{margin:.4em 0 .8em;display:flex;flex-wrap:wrap;gap:.4em 1.2em}
.group b{margin-right:.4em}
#msg{min-height:1.3em;color:#7a1620}
#tail{display:none;margin-top:1em}
#tail pre{background:#111;color:#ddd;padding:.6em;max-height:24em;overflow:auto;white-space:pre-wrap;word-break:break-all}
@media (max-width:700px){thead{display:none}tr{display:block;border-bottom:2px solid #ddd}
td{display:block;border:0;padding:.15em .5em}td:empty{display:none}}
</style></head>
<body><header><h1>{identifier}</h1><span class="mode">{mode}</span><span id="updated"></span></header>
<main><div id="msg" role="status"></div>{groups}
<table><thead><tr><th>process</th><th>state</th><th>description</th><th>restarts</th><th>last exit</th><th>ready</th><th></th></tr></thead>
<tbody id="rows">{rows}</tbody></table>
<section id="tail"><h2 id="tailname"></h2><button id="tailstop">close</button><pre id="tailtext"></pre></section>
</main>
<script>
"use strict";
const READ_ONLY = {read_only};
const fetch = (u, o) => window.fetch(new URL(u, location.href), o); // not the base URL: opened as http://user:pass@host/, it has the credentials, which fetch refuses
const $ = (s) => document.querySelector(s);
function esc(s){return String(s ?? "").replace(/[&<>"']/g,c=>({"&":"&amp;","<":"&lt;",">":"&gt;",'"':"&quot;","'":"&#39;"}[c]));}
function cls(st){return {RUNNING:"ok",STARTING:"busy",STOPPING:"busy",BACKOFF:"busy",FATAL:"bad",UNKNOWN:"bad",EXITED:"bad"}[st]||"idle";}
function buttons(n){let b="";if(!READ_ONLY){for(const a of ["start","stop","restart"])b+=`<button data-act="${a}" data-name="${esc(n)}">${a}</button>`;}return b+`<button data-tail="${esc(n)}">tail</button>`;}
function ready(p){if(!p.readiness)return "";return p.ready?"ready":(p.pid?"not ready":"");}
function render(list){
  $("#rows").innerHTML = list.map(p=>`<tr data-name="${esc(p.name)}" data-group="${esc(p.group)}"><td class="name">${esc(p.name)}</td><td><span class="state ${cls(p.statename)}">${esc(p.statename)}</span></td><td class="desc">${esc(p.description)}</td><td>${p.restarts ?? ""}</td><td>${esc(p.last_exit ?? "")}</td><td>${ready(p)}</td><td class="acts">${buttons(p.name)}</td></tr>`).join("");
  $("#updated").textContent = "updated " + new Date().toLocaleTimeString();
}
async function refresh(){
  if(document.hidden)return;
  try{const r=await fetch("api/processes",{cache:"no-store"});if(r.ok)render(await r.json());}catch(e){}
}
async function act(action, names){
  $("#msg").textContent = action + " " + names.join(", ") + " …";
  const errors=[];
  for(const n of names){
    const r = await fetch("api/processes/"+encodeURIComponent(n)+"/"+action,{method:"POST",headers:{"X-Requested-With":"supervise"}});
    if(!r.ok){let t=r.status+"";try{t=(await r.json()).error;}catch(e){}errors.push(n+": "+t);}
  }
  $("#msg").textContent = errors.join("; ");
  refresh();
}
let tailCtl=null;
async function tail(name){
  if(tailCtl)tailCtl.abort();
  tailCtl=new AbortController();
  $("#tail").style.display="block";$("#tailname").textContent=name;const pre=$("#tailtext");pre.textContent="";
  try{
    const r=await fetch("logtail/"+encodeURIComponent(name),{signal:tailCtl.signal});
    if(!r.ok){pre.textContent="no log ("+r.status+")";return;}
    const rd=r.body.getReader();const dec=new TextDecoder();
    for(;;){const {value,done}=await rd.read();if(done)break;pre.textContent+=dec.decode(value,{stream:true});
      if(pre.textContent.length>200000)pre.textContent=pre.textContent.slice(-100000);pre.scrollTop=pre.scrollHeight;}
  }catch(e){}
}
document.addEventListener("click",(e)=>{
  const b=e.target.closest("button");if(!b)return;
  if(b.id==="tailstop"){if(tailCtl)tailCtl.abort();$("#tail").style.display="none";return;}
  if(b.dataset.tail){tail(b.dataset.tail);return;}
  const a=b.dataset.act;if(!a)return;
  if(b.dataset.name){act(a,[b.dataset.name]);return;}
  const g=b.dataset.group;
  const rows=[...document.querySelectorAll("#rows tr")].filter(r=>g==="*"||r.dataset.group===g);
  act(a, rows.map(r=>r.dataset.name));
});
setInterval(refresh,2000);
document.addEventListener("visibilitychange",refresh);
</script></body></html>
"##;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_escaped_and_read_only_has_no_actions() {
        assert_eq!(
            escape("<a href=\"x\">&'"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
        assert!(buttons("w<eb", false).contains("data-act=\"restart\" data-name=\"w&lt;eb\""));
        assert!(!buttons("web", true).contains("data-act"));
        assert!(buttons("web", true).contains("data-tail"));
    }
}
