"""Pooling arrangements: who does which service for which communes from which depots, costed for a year.

- `definition`: an arrangement as a user writes it (YAML, CLI, API) and the units of work it makes;
- `propose`: the arrangements the product proposes for a territory (status quo, common service, services of the
  agglomération, hubs of neighbouring communes, full pooling with its depots chosen by `facility`);
- `work`: each unit's rounds, activity by activity, turned into hours, shifts and km per commune and month;
- `inputs`: what the diagnostic and the catalogue say of posts, machines, depots, contracts and prices;
- `costing`: whole posts per skill from the peak months, contracts, machines, depots, pooling's own costs,
  joint purchasing, cost-sharing keys — every figure with its inputs;
- `ranges`: the totals again over the uncertain assumptions, and whether the ranking holds;
- `run`: the comparison end to end (progress reported), `store` its layers, `report` the director's page.
"""
