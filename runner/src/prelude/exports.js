  // What the result frame says about a thrown Error: [name, message, stack],
  // from data properties and the engine's stack only (null where there is
  // none), so no getter of the script's runs while the run is ending.
  function describeError(e) {
    const n = tryCall(() => dataProp(e, 'name'), undefined);
    const m = tryCall(() => dataProp(e, 'message'), undefined);
    return [typeof n === 'string' ? n : null, typeof m === 'string' ? m : null, errorStack(e)];
  }

  return { inspect, save, describeError, browser: browserModule };
})
