"""Checks of the DataFrame columns an estimator or model reads, with errors that name the column."""

_NUMERIC = ("ByteType", "ShortType", "IntegerType", "LongType", "FloatType", "DoubleType", "DecimalType",
            "BooleanType")


def _type_name(data_type):
    return type(data_type).__name__


def require_column(df, name, role, owner):
    """The column's Spark type; a ValueError naming the column and listing the DataFrame's when it is missing."""
    if name not in df.columns:
        raise ValueError(f"{owner}: no column {name!r} ({role}) in the DataFrame; its columns are {df.columns}")
    return df.schema[name].dataType


def check_features(df, name, owner):
    """The features column must be an ML Vector, a number or an array of numbers."""
    data_type = require_column(df, name, "featuresCol", owner)
    element = data_type
    while _type_name(element) == "ArrayType":
        element = element.elementType
    if _type_name(data_type) != "VectorUDT" and _type_name(element) not in _NUMERIC:
        raise TypeError(f"{owner}: the features column {name!r} has type {data_type.simpleString()}; it must be "
                        f"an ML Vector (e.g. from VectorAssembler), a number or an array of numbers")


def check_label(df, name, owner, hint):
    """The label column must hold numbers (one per row)."""
    data_type = require_column(df, name, "labelCol", owner)
    if _type_name(data_type) not in _NUMERIC:
        raise TypeError(f"{owner}: the label column {name!r} has type {data_type.simpleString()}; it must be "
                        f"numeric{hint}")


def check_output(df, name, role, owner):
    """An output column must not exist yet (Spark's own models refuse to overwrite one too)."""
    if name and name in df.columns:
        raise ValueError(f"{owner}: the output column {name!r} ({role}) is already in the DataFrame; set "
                         f"{role} to another name")


def declared_classes(df, name):
    """The number of classes the label column's ML attribute declares (StringIndexer writes one), or None."""
    attribute = df.schema[name].metadata.get("ml_attr", {})
    if attribute.get("type") != "nominal":
        return None
    if "vals" in attribute:
        return len(attribute["vals"])
    return attribute.get("num_vals")
