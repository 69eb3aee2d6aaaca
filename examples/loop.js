// A deliberate infinite loop: moat stops it at the deadline (outcome timeout).
console.log('spinning until the deadline...');
for (;;) {}
