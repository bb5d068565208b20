"""One factory for every RL interface, in the style of VMAS's ``make_env`` (DESIGN.md
floor 3): :func:`make` documents every option and its default once."""

from __future__ import annotations

from typing import Any

from .options import INTERFACES, EnvOptions, resolve

__all__ = ["make"]


def make(
    preset_or_config: Any = None,
    interface: str = "parallel",
    num_paths: int | None = None,
    options: EnvOptions | None = None,
    **kwargs: Any,
) -> Any:
    """The market as an RL environment.

    Args:
        preset_or_config: a preset name of MODEL.md §6 (``"quadratic-10"``, ``"power-2"``,
            ``"power-10"``), a :class:`~market_env.config.MarketConfig`, a dict or a JSON
            file path; default ``"quadratic-10"``.
        interface: which face of the market (each imports its framework only when made):

            * ``"parallel"`` (default): PettingZoo ``ParallelEnv``, every trader an agent
              (:class:`~market_env.envs.pettingzoo.MarketParallelEnv`), one path;
            * ``"gym"``: Gymnasium ``Env``, one learning trader
              (:class:`~market_env.envs.gym.FrictionalMarketEnv`), one path;
            * ``"vector"``: Gymnasium ``VectorEnv`` of ``num_paths`` paths
              (:class:`~market_env.envs.vector.MarketVectorEnv`);
            * ``"sb3"``: Stable-Baselines3 ``VecEnv`` of ``num_paths`` paths
              (:class:`~market_env.envs.sb3.MarketSB3VecEnv`).
        num_paths: B, the number of simulated paths (``"vector"``/``"sb3"``; default 1; the
            single-path interfaces take only 1). With ``agent="shared"`` the env has
            ``B·N`` sub-environments.
        options: an :class:`~market_env.envs.options.EnvOptions`; the keywords below
            override it.

    Options (keywords; one set of defaults for every interface):

    ==================  ==============================  ==================================
    option              default                         meaning (interfaces)
    ==================  ==============================  ==================================
    ``price``           ``None``: ``"equilibrium"``     ``"clearing"``, ``"frictionless"``,
                        with one learning trader,       ``"equilibrium"``, ``"market"``
                        else ``"clearing"``             (parallel; vector/SB3 with
                                                        ``agent="market"``), a
                                                        ``PriceMechanism`` or ``Solution``
    ``clearing``        ``"project"``                   ``"project"``, ``"residual"``,
                                                        ``"none"``: orders → fills
    ``max_rate``        ``None``: ``10·(max|ξ|/α+s)/√Δt``  bound of the rate action
    ``clip_actions``    ``True``                        clip out-of-range actions, or raise
                                                        (NaN/inf always raise)
    ``dtype``           ``"float32"``                   simulation dtype (``"float64"`` to
                                                        match a float64 truth to 1e-12)
    ``device``          ``"cpu"``                       ``"cpu"``, ``"cuda[:i]"``, ``"auto"``
    ``seed``            ``None`` (fresh entropy)        the market generator's first seed;
                                                        ``reset(seed=s)`` reseeds
    ``agent``           ``0``                           the learner: index/``"trader_n"``,
                                                        ``"shared"``, ``"market"``
                                                        (gym: index; vector, SB3: all)
    ``others``          ``"equilibrium"``               non-learning traders:
                                                        ``"frictionless"``, ``"zero"``, a
                                                        Solution, SB3 model, agent policy
                                                        (gym, vector, SB3)
    ``market_maker``    ``None``: defaults of the config  bounds and weights of the market
                                                        maker, a ``MarketMakerSpec``
                                                        (parallel, vector, SB3)
    ``autoreset_mode``  ``"next_step"``                 or ``"same_step"`` (vector; SB3
                                                        always ``"same_step"``)
    ``render_mode``     ``None``                        ``"rgb_array"`` (all), ``"human"``
                                                        (parallel, gym)
    ==================  ==============================  ==================================

    Returns:
        the environment.

    Raises:
        ValueError: an unknown interface or option, an option the interface does not take,
            or a bad value (the message names the option, the value and what is allowed).

    Example::

        env = market_env.make("power-2", "vector", num_paths=4096, agent="shared", seed=0)
    """
    if interface not in INTERFACES:
        raise ValueError(f"interface must be one of {list(INTERFACES)}, got {interface!r}")
    opts = resolve(interface, options, **kwargs)
    preset, config = (
        (preset_or_config, None)
        if isinstance(preset_or_config, str) and not preset_or_config.endswith(".json")
        else (None, preset_or_config)
    )
    if interface in ("parallel", "gym"):
        if num_paths not in (None, 1):
            raise ValueError(
                f"num_paths must be 1 (or None) for interface {interface!r} (one path per "
                f"episode; use interface='vector' or 'sb3' for B paths), got {num_paths!r}"
            )
        if interface == "parallel":
            from .pettingzoo import parallel_env

            return parallel_env(preset, config, opts)
        from .gym import FrictionalMarketEnv

        return FrictionalMarketEnv(preset, config, opts)
    B = 1 if num_paths is None else num_paths
    if isinstance(B, bool) or not isinstance(B, int) or B < 1:
        raise ValueError(f"num_paths must be an integer >= 1, got {num_paths!r}")
    num_envs = B * _n_agents(preset, config) if opts.agent == "shared" else B
    if interface == "vector":
        from .vector import MarketVectorEnv

        return MarketVectorEnv(num_envs, preset, config, opts)
    from .sb3 import MarketSB3VecEnv

    return MarketSB3VecEnv(num_envs=num_envs, preset=preset, config=config, options=opts)


def _n_agents(preset: Any, config: Any) -> int:
    from ..policy import resolve_config

    return resolve_config(preset, config).n_agents
