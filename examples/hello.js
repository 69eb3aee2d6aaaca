// A first script: log something, wait a little, return a value.
console.log('hello from moat', { answer: 42, list: [1, 2, 3] });

export default async function () {
  await new Promise((resolve) => setTimeout(resolve, 10));
  return { greeting: 'hello', at: new Date(0).toISOString() };
}
