// placeholder until the protocols land
