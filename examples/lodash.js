// Imports a whitelisted npm package (see modules/): run with --modules modules.
import { chunk, groupBy, sortBy } from 'lodash-es';

const people = [
  { name: 'ada', team: 'engines' },
  { name: 'grace', team: 'compilers' },
  { name: 'linus', team: 'engines' },
];
console.log(chunk([1, 2, 3, 4, 5], 2));
export default () => ({
  byTeam: groupBy(sortBy(people, 'name'), 'team'),
});
