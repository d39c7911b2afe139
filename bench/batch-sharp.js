// SPDX-License-Identifier: LGPL-2.1-or-later
// sharp doing the batch job in one process: extract each manifest row
// from the slide and write PNG, rows one after another (sharp runs each
// on its libvips thread pool).
//   node batch-sharp.js MANIFEST OUT_DIR
const fs = require('fs');
const path = require('path');
const sharp = require(process.env.SHARP_MODULE || 'sharp');

const [manifest, outDir] = process.argv.slice(2);
fs.mkdirSync(outDir, { recursive: true });
const lines = fs.readFileSync(manifest, 'utf8').trim().split('\n');
const head = lines[0].split(',');
const rows = lines.slice(1).map((l) => Object.fromEntries(l.split(',').map((v, i) => [head[i], v])));
(async () => {
	for (const r of rows)
		await sharp(r.slide, { limitInputPixels: false })
			.extract({ left: +r.x, top: +r.y, width: +r.w, height: +r.h })
			.png().toFile(path.join(outDir, r.out));
})().catch((e) => { console.error(e.message); process.exit(1); });
