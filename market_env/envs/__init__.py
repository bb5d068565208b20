"""The RL interfaces of the market: siblings over one shared view (DESIGN.md floor 3).

========================  ==========================================================  =============
module                    what                                                        imports
========================  ==========================================================  =============
``options``               :class:`EnvOptions`: every option once, one set of defaults  stdlib
``common``                names, "reset first"/"episode over", action conversion,      numpy
                          step infos, render dispatch
``spaces``                the gymnasium ``Box`` spaces                                 gymnasium
``view``                  :class:`MarketView`: actions → ``BatchedMarket.step`` →      torch
                          observations, rewards (the only one)
``pettingzoo``            ``MarketParallelEnv``, ``parallel_env``                      pettingzoo
``gym``                   ``FrictionalMarketEnv`` (``gymnasium.make``)                 gymnasium
``vector``                ``MarketVectorEnv`` (``gymnasium.make_vec``)                 gymnasium
``sb3``                   ``MarketSB3VecEnv`` over ``MarketVectorEnv``                 SB3
``factory``               :func:`make`: one entry, every option documented             stdlib
========================  ==========================================================  =============

Import the interfaces from :mod:`market_env` (lazy), or from their modules here.
"""
