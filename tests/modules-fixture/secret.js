// Not whitelisted: reachable only by escaping a module's directory.
export default 'SECRET';
