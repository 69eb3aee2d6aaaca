// Keeps allocating until the heap limit stops it (outcome "oom").
const hoard = [];
for (let i = 0; ; i++) {
  hoard.push(new Array(100000).fill(i));
  if (i % 50 === 0) console.log(`${i} arrays held`);
}
