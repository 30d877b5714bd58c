"""Bandwidth forecasting: honest baselines, a Keras LSTM trained lazily, numpy inference.

Modules (one job each; only `lstm` touches Keras, and only inside its functions):

- `dataset`     Series (regular grid, NaN = no data) -> Prepared: gap filling, features, scalers fit
                on the training part, chronological split, windows; TooLittleData.
- `source`      Series from the store, an import file, or InfluxDB (all via Store.resample).
- `baselines`   persistence, seasonal naive (day, week), seasonal + fading deviation, rolling
                median, EWM of log values (numpy only).
- `design`      the models' inputs: level-relative log1p windows, seasonal lags, calendar, aux.
- `linear`      closed-form ridge (the linear baseline and the LSTM's highway start).
- `conformal`   split-conformal intervals adapted online (ACI); the state saved with the model.
- `evaluate`    MAE, RMSE, R², MAPE, sMAPE, skill vs the best baseline; the evaluation table.
- `events`      training event dataclasses (the CLI and the TUI subscribe to the same stream).
- `lstm`        Keras residual model (anchor + highway + LSTM head) and fit loop.
- `infer`       NumpyLSTM / ResidualNet: the exported weights run in numpy, no TensorFlow.
- `meta`        ModelMeta: the typed, versioned saved-model metadata.
- `model_store` weights.npz + meta.json (+ interval state) per model, LATEST pointer.
- `service`     load a model, apply it to a series, forecast, score: what every caller uses.
- `training`    train(series, config, on_event, cancel) -> TrainResult: the shared entry point.
- `forecaster`  Forecaster.load(config).forecast(series) -> ForecastResult (the TUI's holder).

Typical use (from a thread worker in the TUI):

    from qostui.forecast.source import series_from_config_store
    from qostui.forecast.training import train
    result = train(series_from_config_store(config), config.forecast, on_event=callback, cancel=event)

    from qostui.forecast.forecaster import Forecaster
    forecasts = Forecaster.load(config.forecast).forecast(series).forecasts  # numpy only
"""
