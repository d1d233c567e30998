fetch('/api/api/v1/scans').then((r) => r.json()).then((d) => {
  document.getElementById('scans').textContent = `${d.scans.length} scan(s)`;
});
