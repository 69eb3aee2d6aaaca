export const SUFFIX = '!';
