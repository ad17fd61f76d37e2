"""A realistic synthetic electronics shop: the embedded default data set.

:func:`generate_shop` builds a catalogue of consumer-electronics products (real brands and
model lines, realistic prices per category and brand tier, English and Chinese titles and
descriptions, specs, accessories that complement main products), a user base (budgets, preferred
categories and brands, activity) and a chronological event log of ``view``/``click``/``cart``/
``purchase`` events produced by simulated shopping sessions. :func:`write_shop` writes the result
in digirec's generic table format so every loader and the CLI can read it back.

The structure planted in the log is what recommenders are expected to recover, and every part of
it is a :class:`SynthConfig` knob:

* **budget** -- users view mostly items priced near ``budget x category price scale`` and
  rarely buy above their budget;
* **brand loyalty** -- each session stays within the user's preferred brands with a per-user
  probability whose mean is ``brand_loyalty``;
* **long-tail popularity** -- item attractiveness is log-normal, so a few items draw most views;
* **sequential complements** -- buying a main product (phone, camera, console ...) is often
  followed, in the same session, by views and purchases of its complementary accessories;
* **interest drift** -- some users move to new categories part-way through the timeline
  (``drift_day`` and ``late_categories`` in the users frame).

Everything is drawn from :class:`numpy.random.Generator` instances derived from
``random_state`` alone, so a configuration always yields identical frames.

Large shops: :func:`write_synthetic_shop` simulates and writes the log per block of
:data:`USERS_PER_CHUNK` users, and ``n_events`` sets the sessions per user from a pilot run.
1M users, 100k items and 10M events took 75 CPU seconds and 1.3 GB of peak memory here
(``digirec synth --n-users 1000000 --n-items 100000 --n-events 10000000``). Categories of more
than 2,048 items sample views from per-session candidates (:func:`_sample_large_pool`), and a
catalogue past the distinct products of its reference lines (from about 5,000 items) lists
repeated accessories at once instead of after 60 redraws each; smaller shops are unchanged.
"""

from __future__ import annotations

import bisect
import colorsys
import datetime as dt
import functools
import itertools
import math
import zlib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from pydantic import BaseModel, ConfigDict, Field

from digirec.columns import (
    BRAND,
    CATEGORY,
    DESCRIPTION,
    EVENT,
    IN_STOCK,
    ITEM_ID,
    MODEL,
    PRICE,
    RATING,
    SOURCE_ROW,
    TIMESTAMP,
    TITLE,
    USER_ID,
)
from digirec.data.tables import LoadReport, RawData
from digirec.exceptions import ConfigError

if TYPE_CHECKING:
    import pyarrow as pa
    import pyarrow.parquet as pq

__all__ = [
    "CATEGORIES",
    "EVENT_TYPES",
    "SHOP_NAME",
    "USERS_PER_CHUNK",
    "SynthConfig",
    "WrittenShop",
    "calibrate_sessions",
    "generate_shop",
    "write_shop",
    "write_synthetic_shop",
]

#: ``RawData.name`` of the generated shop.
SHOP_NAME = "synthetic-shop"

#: Event types emitted, in funnel order.
EVENT_TYPES = ("view", "click", "cart", "purchase")

# Catalogue columns beyond the canonical ones in digirec.columns.
BRAND_ZH = "brand_zh"
CATEGORY_ZH = "category_zh"
SUBCATEGORY = "subcategory"
TITLE_ZH = "title_zh"
DESCRIPTION_ZH = "description_zh"
STORAGE_GB = "storage_gb"
RAM_GB = "ram_gb"
SCREEN_INCH = "screen_inch"
BATTERY_MAH = "battery_mah"
MEGAPIXELS = "megapixels"
COLOR = "color"
FEATURES = "features"
RELEASE_DATE = "release_date"
CONDITION = "condition"
IMAGE_COLOR = "image_color"
COMPLEMENTS = "complements"
ACCESSORY_FOR = "accessory_for"

# Users columns.
AGE_BAND = "age_band"
GENDER = "gender"
CITY_TIER = "city_tier"
BUDGET = "budget"
PREFERRED_BRANDS = "preferred_brands"
PREFERRED_CATEGORIES = "preferred_categories"
BRAND_LOYALTY = "brand_loyalty"
ACTIVITY = "activity"
DRIFT_DAY = "drift_day"
LATE_CATEGORIES = "late_categories"

#: Separator of list-valued text cells (features, complements, preferred brands ...).
LIST_SEP = "|"

_SECONDS_PER_DAY = 86_400


class SynthConfig(BaseModel):
    """Parameters of the synthetic shop; every field has a documented default.

    The defaults give 2,000 users, 600 items and about 95,000 events (4,500 purchases) over
    120 days, generated in well under a second; 50,000 users and 5,000 items take ~10 s.
    Probabilities of the click/cart/purchase funnel are base rates for an average user-item
    fit; a good fit (preferred brand, within budget, better product) raises them, a poor one
    lowers them.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    n_users: int = Field(default=2000, ge=1, description="Number of users.")
    n_items: int = Field(
        default=600,
        ge=24,
        description="Number of catalogue items (at least 24, so that every category has some).",
    )
    n_days: int = Field(default=120, ge=1, description="Length of the event log in days.")
    random_state: int = Field(default=42, ge=0, description="Seed of every random draw.")
    start_date: dt.date = Field(
        default=dt.date(2026, 1, 1), description="First day of the log (midnight UTC)."
    )
    mean_sessions_per_user: float = Field(
        default=7.0, ge=1.0, description="Mean number of shopping sessions per user."
    )
    activity_shape: float = Field(
        default=0.8,
        gt=0.0,
        description="Gamma shape of per-user activity; smaller gives a longer tail of heavy users.",
    )
    mean_views_per_session: float = Field(
        default=4.0, ge=1.0, description="Mean number of items viewed per session."
    )
    max_views_per_session: int = Field(
        default=12, ge=1, description="Upper bound on items viewed per session."
    )
    explore_probability: float = Field(
        default=0.1,
        ge=0.0,
        le=1.0,
        description="Probability that a session browses a random category instead of an interest.",
    )
    budget_median: float = Field(
        default=600.0, gt=0.0, description="Median user budget (max comfortable price per item)."
    )
    budget_sigma: float = Field(
        default=0.7, ge=0.0, description="Log-normal sigma of user budgets."
    )
    price_sensitivity: float = Field(
        default=1.0,
        ge=0.0,
        description="How strongly views concentrate near budget x category price scale.",
    )
    over_budget_penalty: float = Field(
        default=3.0, ge=0.0, description="Extra log-odds penalty per log-unit above the budget."
    )
    brand_loyalty: float = Field(
        default=0.6,
        ge=0.0,
        le=1.0,
        description="Mean per-user probability that a session stays within the preferred brands.",
    )
    popularity_sigma: float = Field(
        default=1.3, ge=0.0, description="Log-normal sigma of item attractiveness (long tail)."
    )
    click_probability: float = Field(
        default=0.45, gt=0.0, lt=1.0, description="Base probability that a view leads to a click."
    )
    cart_probability: float = Field(
        default=0.3, gt=0.0, lt=1.0, description="Base probability that a click leads to a cart."
    )
    purchase_probability: float = Field(
        default=0.45, ge=0.0, le=1.0, description="Base probability that a cart is bought."
    )
    over_budget_purchase_factor: float = Field(
        default=0.15,
        ge=0.0,
        le=1.0,
        description="Multiplier of the purchase probability for items above the user's budget.",
    )
    max_purchases_per_session: int = Field(
        default=1, ge=1, description="Main-product purchases per session at most."
    )
    complement_probability: float = Field(
        default=0.5,
        ge=0.0,
        le=1.0,
        description="Probability that a purchase of a main product is followed by a browse of "
        "its complementary accessories in the same session.",
    )
    complement_boost: float = Field(
        default=1.8,
        ge=1.0,
        description="Multiplier of click/cart/purchase probabilities for complement views.",
    )
    max_complements: int = Field(
        default=4, ge=0, description="Complementary accessories recorded per main product."
    )
    drift_probability: float = Field(
        default=0.3,
        ge=0.0,
        le=1.0,
        description="Share of users whose category interests shift part-way through the log.",
    )
    drift_strength: float = Field(
        default=0.85,
        ge=0.0,
        le=1.0,
        description="After the drift day, probability that a session uses the late categories.",
    )
    rating_probability: float = Field(
        default=0.3, ge=0.0, le=1.0, description="Share of purchases that receive a 1-5 rating."
    )
    new_item_share: float = Field(
        default=0.05,
        ge=0.0,
        le=0.5,
        description="Share of items released during the log (no events before release).",
    )
    out_of_stock_share: float = Field(
        default=0.08, ge=0.0, le=1.0, description="Base share of items out of stock."
    )


# --------------------------------------------------------------------------------------------
# Catalogue reference data
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Category:
    zh: str
    item_share: float  # share of catalogue items
    interest: float  # how often users pick it as an interest
    hue: float  # base hue of image_color
    taglines: tuple[tuple[str, str], ...]


CATEGORIES: dict[str, _Category] = {
    "Phones": _Category(
        "手机",
        0.11,
        0.17,
        0.58,
        (
            ("Ideal for photography, gaming and everyday use.", "适合拍照、游戏和日常使用。"),
            ("A reliable choice for work and play.", "工作娱乐两不误。"),
            ("Stay connected all day with a long-lasting battery.", "长续航，全天在线。"),
        ),
    ),
    "Laptops": _Category(
        "笔记本电脑",
        0.10,
        0.12,
        0.66,
        (
            ("Built for productivity on the go.", "随时随地高效办公。"),
            ("Handles demanding creative and gaming workloads.", "轻松应对创作和游戏。"),
            ("A dependable everyday laptop for study and work.", "学习办公好帮手。"),
        ),
    ),
    "Tablets": _Category(
        "平板电脑",
        0.06,
        0.08,
        0.50,
        (
            ("Great for reading, drawing and streaming.", "阅读、绘画、追剧皆宜。"),
            ("A portable screen for work and entertainment.", "便携娱乐办公屏。"),
        ),
    ),
    "Headphones": _Category(
        "耳机",
        0.09,
        0.13,
        0.83,
        (
            ("Immersive sound for music, calls and travel.", "沉浸音质，适合音乐、通话和旅行。"),
            ("Comfortable enough to wear all day.", "佩戴舒适，全天无负担。"),
        ),
    ),
    "Cameras": _Category(
        "相机",
        0.07,
        0.06,
        0.08,
        (
            ("Capture sharp photos and smooth video.", "拍出清晰照片和流畅视频。"),
            ("A great companion for travel and vlogging.", "旅行和视频博客的好伙伴。"),
        ),
    ),
    "Smartwatches": _Category(
        "智能手表",
        0.06,
        0.08,
        0.33,
        (
            ("Track workouts, sleep and health around the clock.", "全天候记录运动、睡眠与健康。"),
            ("Notifications and fitness tracking on your wrist.", "消息提醒与运动记录尽在腕间。"),
        ),
    ),
    "TVs": _Category(
        "电视",
        0.06,
        0.07,
        0.75,
        (
            (
                "Cinema-quality picture for movies, sports and gaming.",
                "影院级画质，畅享电影、体育和游戏。",
            ),
            (
                "Brings streaming apps and vivid colour to your living room.",
                "丰富影视应用，色彩鲜艳。",
            ),
        ),
    ),
    "Speakers": _Category(
        "音箱",
        0.05,
        0.06,
        0.92,
        (
            ("Room-filling sound for parties and everyday listening.", "澎湃音效，派对日常皆宜。"),
            ("Rich sound in a compact design.", "小巧机身，饱满音质。"),
        ),
    ),
    "Monitors": _Category(
        "显示器",
        0.05,
        0.05,
        0.45,
        (
            ("Sharp, accurate image for work and play.", "清晰准确的画面，办公娱乐皆宜。"),
            ("Smooth motion for competitive gaming.", "流畅画面，助力竞技游戏。"),
        ),
    ),
    "Games": _Category(
        "游戏",
        0.07,
        0.10,
        0.00,
        (
            ("Hours of fun for the whole family.", "全家同乐，乐趣无穷。"),
            ("Next-generation gaming at home and on the go.", "新一代游戏体验，在家在外都能玩。"),
        ),
    ),
    "Software": _Category(
        "软件",
        0.03,
        0.03,
        0.25,
        (
            ("Trusted by millions of users worldwide.", "全球数百万用户信赖。"),
            ("Get more done on all your devices.", "多设备高效完成工作。"),
        ),
    ),
    "Accessories": _Category(
        "配件",
        0.25,
        0.05,
        0.16,
        (
            ("The perfect companion for your devices.", "设备的完美搭档。"),
            ("Durable and designed for everyday use.", "坚固耐用，适合日常使用。"),
        ),
    ),
}

_ACCESSORIES = "Accessories"


@dataclass(frozen=True)
class _Brand:
    zh: str
    tier: int  # 1 budget, 2 mid-range, 3 premium
    weight: float  # market presence: share of listings and of user preference


# fmt: off
_BRANDS: dict[str, _Brand] = {
    "Apple": _Brand("苹果", 3, 1.0), "Samsung": _Brand("三星", 3, 0.9),
    "Huawei": _Brand("华为", 2, 0.7), "Xiaomi": _Brand("小米", 1, 0.7),
    "Google": _Brand("谷歌", 2, 0.35), "OPPO": _Brand("OPPO", 2, 0.35),
    "vivo": _Brand("vivo", 2, 0.35), "OnePlus": _Brand("一加", 2, 0.3),
    "Sony": _Brand("索尼", 3, 0.7), "Bose": _Brand("博士", 3, 0.45),
    "Sennheiser": _Brand("森海塞尔", 3, 0.25), "JBL": _Brand("JBL", 1, 0.45),
    "Beats": _Brand("Beats", 2, 0.3), "Lenovo": _Brand("联想", 2, 0.6),
    "Dell": _Brand("戴尔", 2, 0.5), "HP": _Brand("惠普", 2, 0.5),
    "Asus": _Brand("华硕", 2, 0.45), "Acer": _Brand("宏碁", 1, 0.3),
    "MSI": _Brand("微星", 2, 0.25), "Microsoft": _Brand("微软", 3, 0.45),
    "Canon": _Brand("佳能", 3, 0.5), "Nikon": _Brand("尼康", 3, 0.4),
    "Fujifilm": _Brand("富士", 3, 0.35), "Panasonic": _Brand("松下", 2, 0.2),
    "GoPro": _Brand("GoPro", 2, 0.25), "DJI": _Brand("大疆", 3, 0.4),
    "Insta360": _Brand("影石", 2, 0.2), "Garmin": _Brand("佳明", 3, 0.35),
    "Fitbit": _Brand("Fitbit", 1, 0.15), "Amazfit": _Brand("华米", 1, 0.2),
    "LG": _Brand("LG", 2, 0.45), "TCL": _Brand("TCL", 1, 0.35),
    "Hisense": _Brand("海信", 1, 0.35), "Philips": _Brand("飞利浦", 2, 0.2),
    "Amazon": _Brand("亚马逊", 1, 0.35), "Marshall": _Brand("马歇尔", 3, 0.2),
    "Sonos": _Brand("Sonos", 3, 0.2), "AOC": _Brand("AOC", 1, 0.2),
    "BenQ": _Brand("明基", 2, 0.2), "Nintendo": _Brand("任天堂", 2, 0.6),
    "Valve": _Brand("Valve", 2, 0.15), "Meta": _Brand("Meta", 2, 0.2),
    "Ubisoft": _Brand("育碧", 2, 0.2), "Electronic Arts": _Brand("艺电", 2, 0.25),
    "Capcom": _Brand("卡普空", 2, 0.2), "Adobe": _Brand("Adobe", 3, 0.3),
    "Kaspersky": _Brand("卡巴斯基", 2, 0.15), "Norton": _Brand("诺顿", 2, 0.15),
    "McAfee": _Brand("迈克菲", 1, 0.1), "Bitdefender": _Brand("Bitdefender", 2, 0.1),
    "Corel": _Brand("Corel", 2, 0.1), "Parallels": _Brand("Parallels", 2, 0.1),
    "Kingsoft": _Brand("金山", 1, 0.15), "Logitech": _Brand("罗技", 2, 0.5),
    "Razer": _Brand("雷蛇", 3, 0.3), "SteelSeries": _Brand("赛睿", 2, 0.2),
    "Keychron": _Brand("Keychron", 2, 0.15), "Anker": _Brand("安克", 1, 0.5),
    "Belkin": _Brand("贝尔金", 2, 0.3), "Ugreen": _Brand("绿联", 1, 0.35),
    "Spigen": _Brand("Spigen", 1, 0.3), "OtterBox": _Brand("OtterBox", 2, 0.15),
    "ZAGG": _Brand("ZAGG", 2, 0.1), "SanDisk": _Brand("闪迪", 1, 0.4),
    "Lexar": _Brand("雷克沙", 1, 0.15), "Sigma": _Brand("适马", 2, 0.15),
    "Tamron": _Brand("腾龙", 2, 0.1), "Peak Design": _Brand("Peak Design", 3, 0.1),
    "Manfrotto": _Brand("曼富图", 2, 0.1), "Tomtoc": _Brand("Tomtoc", 1, 0.1),
    "Targus": _Brand("泰格斯", 1, 0.1), "Samsonite": _Brand("新秀丽", 2, 0.1),
    "CalDigit": _Brand("CalDigit", 3, 0.05), "8BitDo": _Brand("八位堂", 1, 0.15),
    "Roku": _Brand("Roku", 1, 0.1), "Sanus": _Brand("Sanus", 2, 0.05),
    "Ergotron": _Brand("爱格升", 2, 0.05),
}

#: English feature -> (Chinese, optional English title adjective, optional Chinese adjective).
_FEATURES: dict[str, tuple[str, ...]] = {
    "5G": ("5G", "5G", "5G"), "OLED display": ("OLED屏幕",), "120Hz display": ("120Hz高刷屏",),
    "wireless charging": ("无线充电",), "fast charging": ("快充",), "face unlock": ("面部解锁",),
    "fingerprint sensor": ("指纹识别",), "water resistant": ("防水", "Water-Resistant", "防水"),
    "triple camera": ("三摄",), "telephoto camera": ("长焦镜头",), "NFC": ("NFC",),
    "dual SIM": ("双卡双待",), "satellite messaging": ("卫星通信",), "AI features": ("AI功能",),
    "backlit keyboard": ("背光键盘",), "Thunderbolt 4": ("雷电4接口",),
    "touchscreen": ("触控屏", "Touchscreen", "触屏"), "dedicated graphics": ("独立显卡",),
    "RTX graphics": ("RTX显卡",), "Wi-Fi 7": ("Wi-Fi 7",), "long battery life": ("超长续航",),
    "lightweight": ("轻薄便携", "Lightweight", "轻薄"), "USB-C": ("USB-C接口",),
    "stylus support": ("支持手写笔",), "keyboard support": ("支持键盘",),
    "quad speakers": ("四扬声器",), "e-ink display": ("墨水屏",), "warm light": ("暖光",),
    "noise cancelling": ("主动降噪", "Noise Cancelling", "降噪"),
    "wireless": ("无线", "Wireless", "无线"), "bluetooth": ("蓝牙", "Bluetooth", "蓝牙"),
    "spatial audio": ("空间音频",), "transparency mode": ("通透模式",),
    "multipoint": ("多设备连接",), "hi-res audio": ("高解析音频", "Hi-Res", "高解析"),
    "detachable microphone": ("可拆卸麦克风",), "4K video": ("4K视频",),
    "8K video": ("8K视频",), "image stabilisation": ("防抖",), "weather sealing": ("防尘防滴",),
    "eye autofocus": ("眼部对焦",), "Wi-Fi": ("Wi-Fi",), "flip screen": ("翻转屏",),
    "interchangeable lens": ("可换镜头",), "optical viewfinder": ("光学取景器",),
    "obstacle avoidance": ("避障",), "waterproof": ("防水", "Waterproof", "防水"),
    "GPS": ("GPS定位", "GPS", "GPS"), "heart rate monitor": ("心率监测",), "ECG": ("心电图",),
    "blood oxygen": ("血氧监测",), "sleep tracking": ("睡眠监测",),
    "NFC payments": ("NFC支付",), "always-on display": ("息屏显示",),
    "cellular": ("蜂窝网络", "Cellular", "蜂窝版"), "4K": ("4K超高清",), "HDR10+": ("HDR10+",),
    "Dolby Vision": ("杜比视界",), "smart TV": ("智能系统",), "HDMI 2.1": ("HDMI 2.1",),
    "Dolby Atmos": ("杜比全景声",), "voice assistant": ("语音助手",),
    "local dimming": ("分区控光",), "stereo pairing": ("立体声配对",),
    "party lights": ("派对灯效",), "QHD": ("2K分辨率",), "144Hz": ("144Hz刷新率",),
    "240Hz": ("240Hz刷新率",), "HDR": ("HDR",), "height adjustable": ("升降支架",),
    "curved": ("曲面屏", "Curved", "曲面"), "built-in speakers": ("内置音箱",),
    "4K gaming": ("4K游戏",), "ray tracing": ("光线追踪",), "handheld mode": ("掌机模式",),
    "backwards compatible": ("向下兼容",), "mixed reality": ("混合现实",),
    "hand tracking": ("手势追踪",), "single player": ("单人游戏",),
    "online multiplayer": ("在线多人",), "open world": ("开放世界",), "co-op": ("合作模式",),
    "family friendly": ("适合全家",), "1-year subscription": ("一年订阅",),
    "cloud storage": ("云存储",), "multi-device": ("多设备",), "perpetual licence": ("永久授权",),
    "ransomware protection": ("勒索软件防护",), "VPN": ("VPN",), "GaN": ("氮化镓", "GaN", "氮化镓"),
    "MagSafe": ("MagSafe磁吸",), "drop protection": ("防摔",),
    "ergonomic": ("人体工学", "Ergonomic", "人体工学"), "rechargeable": ("可充电",),
    "mechanical switches": ("机械轴", "Mechanical", "机械"), "card slot": ("卡槽",),
    "tempered glass": ("钢化玻璃",), "braided": ("编织线",), "pressure sensitivity": ("压感",),
    "magnetic attachment": ("磁吸",), "UHS-II": ("UHS-II",), "V30 video speed": ("V30视频速度",),
    "quick release": ("快拆",), "3-axis stabilisation": ("三轴增稳",), "padded": ("加厚防护",),
    "haptic feedback": ("触觉反馈",), "low latency": ("低延迟",), "full motion": ("多角度调节",),
    "gas spring": ("气压弹簧",),
}

_COLORS: dict[str, str] = {
    "Black": "黑色", "White": "白色", "Silver": "银色", "Space Gray": "深空灰色", "Blue": "蓝色",
    "Green": "绿色", "Pink": "粉色", "Purple": "紫色", "Gold": "金色", "Red": "红色",
    "Titanium": "钛金属色", "Midnight": "午夜色", "Graphite": "石墨色", "Beige": "米色",
    "Clear": "透明", "Orange": "橙色",
}

_PALETTES: dict[str, tuple[str, ...]] = {
    "phone": ("Black", "White", "Blue", "Titanium", "Green", "Pink", "Purple", "Gold"),
    "laptop": ("Silver", "Space Gray", "Black", "Midnight", "Blue"),
    "tablet": ("Space Gray", "Silver", "Blue", "Pink", "Purple"),
    "audio": ("Black", "White", "Silver", "Blue", "Beige", "Pink"),
    "camera": ("Black", "Silver"),
    "watch": ("Black", "Silver", "Midnight", "Pink", "Green", "Orange"),
    "tv": ("Black",),
    "monitor": ("Black", "White", "Silver"),
    "console": ("White", "Black"),
    "case": ("Black", "Clear", "Blue", "Pink", "Green", "Purple", "Red"),
    "plain": ("Black", "White"),
    "bag": ("Black", "Graphite", "Blue", "Beige"),
}

# Features a product of the category may have beyond the ones its line always has.
_POOLS: dict[str, tuple[str, ...]] = {
    "Phones": ("OLED display", "120Hz display", "wireless charging", "fast charging",
               "face unlock", "fingerprint sensor", "water resistant", "triple camera", "NFC",
               "dual SIM", "AI features"),
    "Laptops": ("backlit keyboard", "fingerprint sensor", "Thunderbolt 4", "touchscreen",
                "Wi-Fi 7", "120Hz display", "long battery life", "USB-C"),
    "Tablets": ("120Hz display", "face unlock", "quad speakers", "USB-C", "long battery life",
                "5G"),
    "Headphones": ("bluetooth", "spatial audio", "transparency mode", "multipoint",
                   "water resistant", "hi-res audio", "long battery life", "fast charging"),
    "Cameras": ("4K video", "image stabilisation", "weather sealing", "eye autofocus", "Wi-Fi",
                "flip screen"),
    "Smartwatches": ("GPS", "heart rate monitor", "blood oxygen", "sleep tracking",
                     "NFC payments", "water resistant", "always-on display", "cellular"),
    "TVs": ("HDR10+", "Dolby Vision", "120Hz display", "smart TV", "HDMI 2.1", "Dolby Atmos",
            "voice assistant"),
    "Speakers": ("bluetooth", "waterproof", "Wi-Fi", "voice assistant", "stereo pairing",
                 "long battery life"),
    "Monitors": ("HDR", "USB-C", "height adjustable", "built-in speakers"),
    "Games": ("4K gaming", "ray tracing", "backwards compatible", "Wi-Fi"),
    "Software": ("cloud storage", "multi-device", "AI features"),
    "Accessories": ("USB-C",),
}
# fmt: on


@dataclass(frozen=True)
class _Sub:
    """Subcategory: Chinese name, product noun and spec profile."""

    category: str
    zh: str
    noun: str
    noun_zh: str
    variant: str = "none"  # storage, capacity, screen, kit, combo, edition, devices, bundle, none
    storage: tuple[int, ...] = ()
    ram: tuple[int, ...] = ()
    screen: tuple[float, ...] = ()
    screen_ref: float = 0.0  # screen size the line price refers to (TVs)
    battery: tuple[int, int] | None = None
    megapixels: tuple[int, ...] = ()
    palette: str = ""
    versioned: bool = True  # generations are successive versions (older ones cheaper)


_VARIANTS: dict[str, tuple[tuple[str, str, float], ...]] = {
    "kit": (("Body Only", "单机身", 1.0), ("Lens Kit", "镜头套机", 1.3)),
    "combo": (("", "", 1.0), ("Fly More Combo", "畅飞套装", 1.35)),
    "edition": (("Standard Edition", "标准版", 1.0), ("Deluxe Edition", "豪华版", 1.45)),
    "devices": (("1 Device", "1台设备", 1.0), ("3 Devices", "3台设备", 1.4),
                ("5 Devices", "5台设备", 1.8)),
    "bundle": (("", "", 1.0), ("Game Bundle", "游戏同捆套装", 1.15)),
}  # fmt: skip
_STORAGE_PRICE = (1.0, 1.15, 1.4, 1.7, 2.0)
# Item condition: (column value, title suffix, Chinese suffix, price factor, description).
# Renewed and open-box listings are separate SKUs in real shops; they also let large
# catalogues grow beyond the distinct new products the lines below can make.
_CONDITIONS = (
    ("new", "", "", 1.0, "", ""),
    ("renewed", "Renewed", "官方翻新", 0.8,
     "Certified renewed: inspected, tested and covered by warranty.",
     "官方翻新，经检测并享受保修。"),
    ("open box", "Open Box", "开箱特价", 0.9,
     "Open-box item in like-new condition.", "开箱商品，成色如新。"),
)  # fmt: skip

_S = _Sub
# fmt: off
_SUBCATEGORIES: dict[str, _Sub] = {
    "Flagship Smartphones": _S("Phones", "旗舰手机", "Smartphone", "智能手机", "storage",
                               (128, 256, 512, 1024), (8, 12, 16), (6.1, 6.3, 6.5, 6.7, 6.9),
                               battery=(3500, 5500), palette="phone"),
    "Mid-range Smartphones": _S("Phones", "中端手机", "Smartphone", "智能手机", "storage",
                                (128, 256, 512), (6, 8, 12), (6.4, 6.6, 6.7),
                                battery=(4500, 6000), palette="phone"),
    "Foldable Phones": _S("Phones", "折叠屏手机", "Foldable Smartphone", "折叠屏手机", "storage",
                          (256, 512, 1024), (12, 16), (6.7, 7.6, 8.0), battery=(4000, 5600),
                          palette="phone"),
    "Ultrabooks": _S("Laptops", "轻薄本", "Laptop", "笔记本电脑", "storage",
                     (256, 512, 1024, 2048), (8, 16, 32), (13.3, 13.6, 14.0, 15.3, 16.0),
                     palette="laptop"),
    "Gaming Laptops": _S("Laptops", "游戏本", "Gaming Laptop", "游戏笔记本", "storage",
                         (512, 1024, 2048), (16, 32, 64), (15.6, 16.0, 17.3, 18.0),
                         palette="laptop"),
    "Business Laptops": _S("Laptops", "商务本", "Business Laptop", "商务笔记本", "storage",
                           (256, 512, 1024), (16, 32), (13.3, 14.0, 16.0), palette="laptop"),
    "2-in-1 Laptops": _S("Laptops", "二合一笔记本", "2-in-1 Laptop", "二合一笔记本", "storage",
                         (256, 512, 1024), (8, 16, 32), (13.0, 14.0, 16.0), palette="laptop"),
    "Standard Tablets": _S("Tablets", "平板电脑", "Tablet", "平板电脑", "storage",
                           (64, 128, 256), (4, 6, 8), (8.3, 10.9, 11.0, 11.5),
                           battery=(5000, 8000), palette="tablet"),
    "Pro Tablets": _S("Tablets", "专业平板", "Tablet", "平板电脑", "storage",
                      (128, 256, 512, 1024), (8, 12, 16), (11.0, 12.4, 13.0),
                      battery=(7500, 11200), palette="tablet"),
    "E-readers": _S("Tablets", "电子阅读器", "E-reader", "电子书阅读器", "storage", (16, 32, 64),
                    (), (6.0, 7.0, 10.2), battery=(1500, 3000), palette="plain"),
    "Over-Ear Headphones": _S("Headphones", "头戴式耳机", "Over-Ear Headphones", "头戴式耳机",
                              battery=(400, 1000), palette="audio"),
    "True Wireless Earbuds": _S("Headphones", "真无线耳机", "Earbuds", "真无线耳机",
                                battery=(300, 600), palette="audio"),
    "Gaming Headsets": _S("Headphones", "游戏耳机", "Gaming Headset", "游戏耳机",
                          battery=(700, 1500), palette="audio"),
    "Wired Headphones": _S("Headphones", "有线耳机", "Wired Headphones", "有线耳机",
                           palette="audio"),
    "Mirrorless Cameras": _S("Cameras", "微单相机", "Mirrorless Camera", "微单相机", "kit",
                             screen=(3.0, 3.2), battery=(1800, 2300),
                             megapixels=(24, 26, 33, 40, 45, 61), palette="camera"),
    "DSLR Cameras": _S("Cameras", "单反相机", "DSLR Camera", "单反相机", "kit", screen=(3.0, 3.2),
                       battery=(1800, 2300), megapixels=(24, 32, 45), palette="camera"),
    "Compact Cameras": _S("Cameras", "便携相机", "Compact Camera", "便携数码相机",
                          screen=(2.0, 3.0), battery=(1000, 1300), megapixels=(20, 24, 40),
                          palette="camera"),
    "Action Cameras": _S("Cameras", "运动相机", "Action Camera", "运动相机", screen=(2.3, 2.5),
                         battery=(1600, 2000), megapixels=(12, 27, 48), palette="camera"),
    "Drones": _S("Cameras", "无人机", "Camera Drone", "航拍无人机", "combo",
                 battery=(2400, 4300), megapixels=(12, 20, 48), palette="plain"),
    "Smartwatches": _S("Smartwatches", "智能手表", "Smartwatch", "智能手表", storage=(32, 64),
                       screen=(1.4, 1.6, 1.8, 1.9, 2.0), battery=(280, 600), palette="watch"),
    "Fitness Trackers": _S("Smartwatches", "智能手环", "Fitness Tracker", "智能手环",
                           screen=(1.1, 1.47, 1.62), battery=(120, 300), palette="watch"),
    "GPS Sports Watches": _S("Smartwatches", "运动手表", "GPS Sports Watch", "GPS运动手表",
                             storage=(8, 16, 32), screen=(1.2, 1.3, 1.4, 1.47),
                             battery=(300, 700), palette="watch"),
    "OLED TVs": _S("TVs", "OLED电视", "OLED Smart TV", "OLED智能电视", "screen",
                   screen=(48.0, 55.0, 65.0, 77.0, 83.0), screen_ref=55.0, palette="tv"),
    "Mini LED & QLED TVs": _S("TVs", "Mini LED电视", "4K Smart TV", "4K智能电视", "screen",
                              screen=(50.0, 55.0, 65.0, 75.0, 85.0, 98.0), screen_ref=55.0,
                              palette="tv"),
    "LED TVs": _S("TVs", "液晶电视", "4K UHD Smart TV", "4K超高清智能电视", "screen",
                  screen=(43.0, 50.0, 55.0, 65.0, 75.0), screen_ref=55.0, palette="tv"),
    "Portable Speakers": _S("Speakers", "便携音箱", "Portable Bluetooth Speaker", "便携蓝牙音箱",
                            battery=(2000, 10000), palette="audio"),
    "Smart Speakers": _S("Speakers", "智能音箱", "Smart Speaker", "智能音箱", palette="audio"),
    "Soundbars": _S("Speakers", "回音壁", "Soundbar", "回音壁音响", palette="plain"),
    "Gaming Monitors": _S("Monitors", "电竞显示器", "Gaming Monitor", "电竞显示器",
                          screen=(24.5, 27.0, 31.5, 34.0), palette="monitor"),
    "Professional Monitors": _S("Monitors", "专业显示器", "Monitor", "专业显示器",
                                screen=(27.0, 31.5, 32.0), palette="monitor"),
    "Office Monitors": _S("Monitors", "办公显示器", "Monitor", "办公显示器",
                          screen=(23.8, 27.0, 31.5), palette="monitor"),
    "Home Consoles": _S("Games", "游戏主机", "Game Console", "游戏主机", "bundle",
                        storage=(512, 825, 1024, 2048), palette="console"),
    "Handheld Consoles": _S("Games", "掌上游戏机", "Handheld Game Console", "掌上游戏机",
                            storage=(64, 256, 512, 1024), screen=(7.0, 7.4, 7.9),
                            battery=(4300, 6000), palette="console"),
    "VR Headsets": _S("Games", "VR头显", "VR Headset", "VR头显", "storage", (128, 256, 512),
                      palette="plain"),
    "Video Games": _S("Games", "电子游戏", "Video Game", "游戏", "edition", versioned=False),
    "Office & Productivity": _S("Software", "办公软件", "Software", "办公软件", "devices"),
    "Creative Software": _S("Software", "创意设计软件", "Creative Software", "创意设计软件"),
    "Security Software": _S("Software", "安全软件", "Antivirus Software", "杀毒软件", "devices"),
    "Utilities": _S("Software", "系统工具", "Software", "系统工具软件"),
    "Phone Cases": _S(_ACCESSORIES, "手机壳", "Phone Case", "手机壳", palette="case"),
    "Chargers": _S(_ACCESSORIES, "充电器", "Charger", "充电器", palette="plain"),
    "Screen Protectors": _S(_ACCESSORIES, "屏幕保护膜", "Screen Protector", "钢化膜"),
    "Power Banks": _S(_ACCESSORIES, "移动电源", "Power Bank", "充电宝", battery=(10000, 26800),
                      palette="plain"),
    "Cables": _S(_ACCESSORIES, "数据线", "Cable", "数据线", palette="plain"),
    "Docks & Hubs": _S(_ACCESSORIES, "扩展坞", "Docking Station", "扩展坞", palette="plain"),
    "Laptop Bags": _S(_ACCESSORIES, "电脑包", "Laptop Bag", "电脑包", palette="bag"),
    "Mice": _S(_ACCESSORIES, "鼠标", "Mouse", "鼠标", palette="plain"),
    "Keyboards": _S(_ACCESSORIES, "键盘", "Keyboard", "键盘", palette="plain"),
    "Styluses": _S(_ACCESSORIES, "手写笔", "Stylus", "手写笔", palette="plain"),
    "Memory Cards": _S(_ACCESSORIES, "存储卡", "Memory Card", "存储卡", "capacity",
                       (64, 128, 256, 512)),
    "Camera Lenses": _S(_ACCESSORIES, "相机镜头", "Lens", "镜头", versioned=False),
    "Camera Batteries": _S(_ACCESSORIES, "相机电池", "Battery", "电池", battery=(1000, 2500)),
    "Camera Bags": _S(_ACCESSORIES, "摄影包", "Camera Backpack", "摄影双肩包", palette="bag"),
    "Tripods": _S(_ACCESSORIES, "三脚架", "Tripod", "三脚架", palette="camera"),
    "Gimbals": _S(_ACCESSORIES, "稳定器", "Gimbal Stabiliser", "手持稳定器", palette="plain"),
    "Watch Bands": _S(_ACCESSORIES, "表带", "Watch Band", "表带", palette="watch",
                      versioned=False),
    "Game Controllers": _S(_ACCESSORIES, "游戏手柄", "Controller", "游戏手柄", palette="console"),
    "Streaming Devices": _S(_ACCESSORIES, "电视盒子", "Streaming Media Player", "流媒体播放器"),
    "TV Mounts": _S(_ACCESSORIES, "电视挂架", "TV Wall Mount", "电视壁挂架"),
    "Monitor Arms": _S(_ACCESSORIES, "显示器支架", "Monitor Arm", "显示器支架", palette="plain"),
}
# fmt: on
del _S

# Subcategories whose optional features differ from their category's pool.
# fmt: off
_SUB_POOLS: dict[str, tuple[str, ...]] = {
    "E-readers": ("waterproof", "long battery life", "USB-C"),
    "Gaming Headsets": ("bluetooth", "spatial audio", "low latency", "multipoint"),
    "Wired Headphones": ("hi-res audio", "detachable microphone"),
    "Action Cameras": ("4K video", "image stabilisation", "Wi-Fi", "flip screen"),
    "Drones": ("4K video", "GPS", "Wi-Fi"),
    "Portable Speakers": ("bluetooth", "waterproof", "stereo pairing", "long battery life",
                          "USB-C"),
    "Smart Speakers": ("Wi-Fi", "bluetooth", "voice assistant", "stereo pairing", "spatial audio"),
    "Soundbars": ("Wi-Fi", "bluetooth", "voice assistant", "HDMI 2.1"),
    "Home Consoles": ("4K gaming", "ray tracing", "backwards compatible", "Wi-Fi"),
    "Handheld Consoles": ("Wi-Fi", "OLED display", "backwards compatible"),
    "VR Headsets": ("mixed reality", "hand tracking", "Wi-Fi"),
    "Video Games": ("online multiplayer", "single player", "co-op"),
    "Phone Cases": ("drop protection", "MagSafe"),
    "Chargers": ("USB-C", "GaN", "fast charging"),
    "Screen Protectors": ("tempered glass",),
    "Power Banks": ("USB-C", "fast charging", "wireless charging"),
    "Cables": ("USB-C", "braided", "fast charging"),
    "Docks & Hubs": ("USB-C", "Thunderbolt 4"),
    "Laptop Bags": ("padded", "water resistant"),
    "Mice": ("wireless", "bluetooth", "rechargeable", "ergonomic"),
    "Keyboards": ("wireless", "bluetooth", "backlit keyboard", "rechargeable"),
    "Styluses": ("pressure sensitivity", "rechargeable", "magnetic attachment"),
    "Memory Cards": ("V30 video speed", "UHS-II", "water resistant"),
    "Camera Lenses": ("weather sealing", "image stabilisation"),
    "Camera Batteries": ("rechargeable", "USB-C"),
    "Camera Bags": ("padded", "water resistant"),
    "Tripods": ("quick release",),
    "Gimbals": ("3-axis stabilisation", "bluetooth"),
    "Watch Bands": ("quick release", "water resistant"),
    "Game Controllers": ("bluetooth", "rechargeable", "haptic feedback", "low latency"),
    "Streaming Devices": ("4K", "Dolby Vision", "voice assistant", "Wi-Fi"),
    "TV Mounts": ("full motion",),
    "Monitor Arms": ("gas spring", "height adjustable"),
}
# fmt: on


@dataclass(frozen=True)
class _Line:
    """A product line: a brand's model family, e.g. Samsung ``Galaxy S{g}``."""

    category: str
    brand: str
    template: str  # model name; ``{g}`` is replaced by one of ``gens``
    gens: tuple[str, ...]  # generations (oldest first) or variants such as sizes or platforms
    subcategory: str
    price: float  # typical price (USD) of the newest generation's base variant
    features: tuple[str, ...]  # features every product of the line has
    accessory_for: tuple[str, ...] = ()  # accessories: categories they complement
    fits: str = ""  # accessories: the only device brand they fit ("" = rule in _complements)
    fits_model: str = ""  # accessories: model (``{g}`` = same generation) they are made for


# Rows: (brand, model template, generations, subcategory, price, features[, for, fits]).

# fmt: off
_LINE_ROWS: dict[str, list[tuple[object, ...]]] = {
    "Phones": [
        ("Apple", "iPhone {g}", "14,15,16,17", "Flagship Smartphones", 829, "5G|OLED display"),
        ("Apple", "iPhone {g} Pro", "14,15,16,17", "Flagship Smartphones", 1099,
         "5G|OLED display|telephoto camera"),
        ("Apple", "iPhone {g} Pro Max", "15,16,17", "Flagship Smartphones", 1199,
         "5G|OLED display|telephoto camera"),
        ("Apple", "iPhone {g}e", "16", "Mid-range Smartphones", 599, "5G"),
        ("Samsung", "Galaxy S{g}", "23,24,25", "Flagship Smartphones", 799, "5G|OLED display"),
        ("Samsung", "Galaxy S{g} Ultra", "23,24,25", "Flagship Smartphones", 1299,
         "5G|OLED display|telephoto camera"),
        ("Samsung", "Galaxy A5{g} 5G", "4,5,6", "Mid-range Smartphones", 449, "5G"),
        ("Samsung", "Galaxy A1{g} 5G", "5,6", "Mid-range Smartphones", 199, "5G"),
        ("Samsung", "Galaxy Z Fold{g}", "5,6,7", "Foldable Phones", 1999, "5G|OLED display"),
        ("Samsung", "Galaxy Z Flip{g}", "5,6,7", "Foldable Phones", 1099, "5G|OLED display"),
        ("Huawei", "Mate {g} Pro", "50,60,70", "Flagship Smartphones", 1099,
         "5G|satellite messaging"),
        ("Huawei", "Pura {g} Pro", "70,80", "Flagship Smartphones", 999, "5G|telephoto camera"),
        ("Huawei", "nova {g}", "12,13,14", "Mid-range Smartphones", 449, "5G"),
        ("Huawei", "Mate X{g}", "5,6", "Foldable Phones", 1999, "5G|satellite messaging"),
        ("Xiaomi", "Xiaomi {g}", "13,14,15", "Flagship Smartphones", 699, "5G"),
        ("Xiaomi", "Xiaomi {g} Ultra", "14,15", "Flagship Smartphones", 1099,
         "5G|telephoto camera"),
        ("Xiaomi", "Redmi Note {g}", "13,14,15", "Mid-range Smartphones", 229, "fast charging"),
        ("Xiaomi", "Redmi Note {g} Pro+", "13,14,15", "Mid-range Smartphones", 399,
         "5G|fast charging"),
        ("Google", "Pixel {g}", "8,9,10", "Flagship Smartphones", 799, "5G|AI features"),
        ("Google", "Pixel {g} Pro", "8,9,10", "Flagship Smartphones", 999,
         "5G|AI features|telephoto camera"),
        ("Google", "Pixel {g}a", "8,9", "Mid-range Smartphones", 499, "5G"),
        ("OPPO", "Find X{g} Pro", "7,8", "Flagship Smartphones", 999, "5G|telephoto camera"),
        ("OPPO", "Reno{g}", "11,12,13", "Mid-range Smartphones", 449, "5G"),
        ("OPPO", "Find N{g}", "3,5", "Foldable Phones", 1699, "5G"),
        ("vivo", "X{g} Pro", "100,200", "Flagship Smartphones", 999, "5G|telephoto camera"),
        ("vivo", "V{g}", "30,40,50", "Mid-range Smartphones", 399, "5G"),
        ("OnePlus", "OnePlus {g}", "11,12,13", "Flagship Smartphones", 799, "5G|fast charging"),
        ("OnePlus", "Nord {g}", "3,4,5", "Mid-range Smartphones", 379, "5G|fast charging"),
    ],
    "Laptops": [
        ("Apple", "MacBook Air 13 (M{g})", "2,3,4", "Ultrabooks", 999,
         "lightweight|long battery life"),
        ("Apple", "MacBook Air 15 (M{g})", "2,3,4", "Ultrabooks", 1199,
         "lightweight|long battery life"),
        ("Apple", "MacBook Pro 14 (M{g} Pro)", "3,4,5", "Ultrabooks", 1999, "long battery life"),
        ("Apple", "MacBook Pro 16 (M{g} Max)", "3,4", "Ultrabooks", 3499, "long battery life"),
        ("Lenovo", "ThinkPad X1 Carbon Gen {g}", "11,12,13", "Business Laptops", 1799,
         "lightweight|fingerprint sensor"),
        ("Lenovo", "ThinkPad T14 Gen {g}", "4,5,6", "Business Laptops", 1199,
         "fingerprint sensor"),
        ("Lenovo", "Legion Pro 7i Gen {g}", "8,9,10", "Gaming Laptops", 2299, "RTX graphics"),
        ("Lenovo", "Legion 5i Gen {g}", "8,9,10", "Gaming Laptops", 1299, "RTX graphics"),
        ("Lenovo", "Yoga Slim 7i Gen {g}", "8,9,10", "Ultrabooks", 999, "lightweight"),
        ("Lenovo", "IdeaPad Slim {g}", "3,5", "Ultrabooks", 549, ""),
        ("Lenovo", "Yoga 9i 2-in-1 Gen {g}", "8,9,10", "2-in-1 Laptops", 1399,
         "touchscreen|OLED display"),
        ("Dell", "XPS 13 9{g}", "340,345,350", "Ultrabooks", 1199, "lightweight"),
        ("Dell", "XPS 16 9{g}", "640,650", "Ultrabooks", 1899, "OLED display"),
        ("Dell", "Inspiron {g}", "14 5440,15 3530,16 5640", "Ultrabooks", 599, ""),
        ("Dell", "Latitude 7{g}50", "3,4", "Business Laptops", 1499, "fingerprint sensor"),
        ("Dell", "Alienware m{g}", "16 R2,18 R2", "Gaming Laptops", 2299, "RTX graphics"),
        ("HP", "Spectre x360 {g}", "14,16", "2-in-1 Laptops", 1499, "touchscreen|OLED display"),
        ("HP", "Pavilion {g}", "14,15,Plus 14", "Ultrabooks", 649, ""),
        ("HP", "EliteBook {g} G11", "840,860", "Business Laptops", 1399, "fingerprint sensor"),
        ("HP", "OMEN {g}", "16,Transcend 14", "Gaming Laptops", 1499, "RTX graphics"),
        ("HP", "Victus {g}", "15,16", "Gaming Laptops", 899, "dedicated graphics"),
        ("Asus", "Zenbook {g} OLED", "14,S 14,Duo", "Ultrabooks", 1099, "OLED display"),
        ("Asus", "ROG Zephyrus G{g}", "14,16", "Gaming Laptops", 1999, "RTX graphics"),
        ("Asus", "ROG Strix G{g}", "16,18", "Gaming Laptops", 1599, "RTX graphics"),
        ("Asus", "Vivobook {g}", "14,15,16", "Ultrabooks", 499, ""),
        ("Asus", "TUF Gaming A{g}", "15,16", "Gaming Laptops", 999, "dedicated graphics"),
        ("Microsoft", "Surface Laptop {g}", "5,6,7", "Ultrabooks", 999, "touchscreen"),
        ("Microsoft", "Surface Pro {g}", "9,10,11", "2-in-1 Laptops", 999,
         "touchscreen|stylus support"),
        ("Huawei", "MateBook X Pro {g}", "2023,2024,2025", "Ultrabooks", 1599,
         "lightweight|OLED display"),
        ("Huawei", "MateBook D {g}", "14,16", "Ultrabooks", 699, ""),
        ("Xiaomi", "Redmi Book Pro {g}", "14,16", "Ultrabooks", 799, ""),
        ("Acer", "Swift Go {g}", "14,16", "Ultrabooks", 799, "OLED display"),
        ("Acer", "Nitro V {g}", "15,16", "Gaming Laptops", 899, "dedicated graphics"),
        ("Acer", "Predator Helios {g}", "16,18", "Gaming Laptops", 1799, "RTX graphics"),
        ("MSI", "Raider GE{g}", "68,78", "Gaming Laptops", 2799, "RTX graphics"),
        ("MSI", "Katana {g}", "15,17", "Gaming Laptops", 1099, "RTX graphics"),
    ],
    "Tablets": [
        ("Apple", "iPad ({g}th generation)", "9,10,11", "Standard Tablets", 349, ""),
        ("Apple", "iPad Air {g} (M3)", "11-inch,13-inch", "Pro Tablets", 599,
         "stylus support|keyboard support"),
        ("Apple", "iPad Pro {g} (M4)", "11-inch,13-inch", "Pro Tablets", 999,
         "OLED display|stylus support|keyboard support"),
        ("Apple", "iPad mini (A17 Pro)", "", "Standard Tablets", 499, "stylus support"),
        ("Samsung", "Galaxy Tab S{g}", "8,9,10", "Pro Tablets", 799,
         "OLED display|stylus support"),
        ("Samsung", "Galaxy Tab S{g} FE", "9,10", "Standard Tablets", 449, "stylus support"),
        ("Samsung", "Galaxy Tab A{g}", "8,9", "Standard Tablets", 199, ""),
        ("Huawei", "MatePad Pro {g}", "11,12.2,13.2", "Pro Tablets", 699, "stylus support"),
        ("Huawei", "MatePad {g}", "11,11.5", "Standard Tablets", 349, ""),
        ("Xiaomi", "Xiaomi Pad {g}", "6,7", "Standard Tablets", 399, "120Hz display"),
        ("Xiaomi", "Redmi Pad {g}", "SE,Pro", "Standard Tablets", 199, ""),
        ("Lenovo", "Tab P{g}", "11,12", "Standard Tablets", 299, ""),
        ("Lenovo", "Legion Tab Gen {g}", "2,3", "Pro Tablets", 499, "120Hz display"),
        ("Amazon", "Kindle Paperwhite ({g}th Gen)", "11,12", "E-readers", 159,
         "e-ink display|warm light"),
        ("Amazon", "Kindle Scribe", "", "E-readers", 399, "e-ink display|stylus support"),
        ("Amazon", "Kindle", "", "E-readers", 109, "e-ink display"),
        ("Amazon", "Fire HD {g}", "8,10", "Standard Tablets", 139, ""),
    ],
    "Headphones": [
        ("Sony", "WH-1000XM{g}", "4,5,6", "Over-Ear Headphones", 449,
         "wireless|noise cancelling"),
        ("Sony", "WF-1000XM{g}", "4,5", "True Wireless Earbuds", 299, "wireless|noise cancelling"),
        ("Sony", "WH-CH720N", "", "Over-Ear Headphones", 149, "wireless|noise cancelling"),
        ("Sony", "ULT Wear", "", "Over-Ear Headphones", 199, "wireless|noise cancelling"),
        ("Sony", "INZONE H{g}", "5,9", "Gaming Headsets", 199, "wireless"),
        ("Bose", "QuietComfort Ultra Headphones", "", "Over-Ear Headphones", 429,
         "wireless|noise cancelling"),
        ("Bose", "QuietComfort Ultra Earbuds", "", "True Wireless Earbuds", 299,
         "wireless|noise cancelling"),
        ("Bose", "QuietComfort Headphones", "", "Over-Ear Headphones", 349,
         "wireless|noise cancelling"),
        ("Apple", "AirPods Pro {g}", "2,3", "True Wireless Earbuds", 249,
         "wireless|noise cancelling"),
        ("Apple", "AirPods {g}", "3,4", "True Wireless Earbuds", 129, "wireless"),
        ("Apple", "AirPods Max", "", "Over-Ear Headphones", 549, "wireless|noise cancelling"),
        ("Samsung", "Galaxy Buds{g} Pro", "2,3", "True Wireless Earbuds", 249,
         "wireless|noise cancelling"),
        ("Samsung", "Galaxy Buds FE", "", "True Wireless Earbuds", 99, "wireless"),
        ("Sennheiser", "Momentum {g} Wireless", "3,4", "Over-Ear Headphones", 379,
         "wireless|noise cancelling"),
        ("Sennheiser", "Momentum True Wireless {g}", "3,4", "True Wireless Earbuds", 299,
         "wireless|noise cancelling"),
        ("Sennheiser", "HD {g}", "560S,600,660S2", "Wired Headphones", 199, "hi-res audio"),
        ("JBL", "Tune {g}BT", "520,720", "Over-Ear Headphones", 59, "wireless"),
        ("JBL", "Live {g} NC", "660,770", "Over-Ear Headphones", 149,
         "wireless|noise cancelling"),
        ("JBL", "Tour Pro {g}", "2,3", "True Wireless Earbuds", 249, "wireless|noise cancelling"),
        ("JBL", "Quantum {g}", "100,810,910", "Gaming Headsets", 129, ""),
        ("Beats", "Studio Pro", "", "Over-Ear Headphones", 349, "wireless|noise cancelling"),
        ("Beats", "Solo {g}", "3,4", "Over-Ear Headphones", 199, "wireless"),
        ("Beats", "Powerbeats Pro {g}", "2", "True Wireless Earbuds", 249,
         "wireless|water resistant"),
        ("Huawei", "FreeBuds Pro {g}", "3,4", "True Wireless Earbuds", 199,
         "wireless|noise cancelling"),
        ("Huawei", "FreeBuds {g}", "5,6", "True Wireless Earbuds", 149, "wireless"),
        ("Xiaomi", "Redmi Buds {g} Pro", "5,6", "True Wireless Earbuds", 69,
         "wireless|noise cancelling"),
        ("Xiaomi", "Xiaomi Buds {g} Pro", "4,5", "True Wireless Earbuds", 199,
         "wireless|noise cancelling"),
        ("Razer", "BlackShark V{g} Pro", "2,3", "Gaming Headsets", 199,
         "wireless|detachable microphone"),
        ("Logitech", "G{g} Lightspeed", "435,733", "Gaming Headsets", 129, "wireless"),
        ("SteelSeries", "Arctis Nova {g}", "5,7,Pro", "Gaming Headsets", 179,
         "wireless|noise cancelling"),
    ],
    "Cameras": [
        ("Canon", "EOS R{g}", "5 Mark II,6 Mark III", "Mirrorless Cameras", 2999,
         "4K video|eye autofocus|interchangeable lens"),
        ("Canon", "EOS R{g}", "8,50,10", "Mirrorless Cameras", 999,
         "4K video|interchangeable lens"),
        ("Canon", "EOS {g}D", "90,850", "DSLR Cameras", 1199,
         "optical viewfinder|interchangeable lens"),
        ("Canon", "PowerShot G7 X Mark {g}", "III", "Compact Cameras", 749, "4K video|flip screen"),
        ("Nikon", "Z{g}", "5II,8,6III", "Mirrorless Cameras", 1999,
         "eye autofocus|interchangeable lens"),
        ("Nikon", "Z{g}", "fc,30,50II", "Mirrorless Cameras", 799, "interchangeable lens"),
        ("Nikon", "D{g}", "7500,780", "DSLR Cameras", 1599,
         "optical viewfinder|interchangeable lens"),
        ("Nikon", "Coolpix P{g}", "950,1100", "Compact Cameras", 799, "telephoto camera"),
        ("Sony", "Alpha {g}", "7 IV,7C II,7R V,9 III", "Mirrorless Cameras", 2499,
         "eye autofocus|interchangeable lens"),
        ("Sony", "Alpha {g}", "6400,6700", "Mirrorless Cameras", 1099,
         "eye autofocus|interchangeable lens"),
        ("Sony", "ZV-E{g}", "1,10 II", "Mirrorless Cameras", 999, "4K video|flip screen"),
        ("Sony", "RX100 {g}", "VI,VII", "Compact Cameras", 1099, "4K video"),
        ("Fujifilm", "X-T{g}", "30 II,50,5", "Mirrorless Cameras", 1499,
         "weather sealing|interchangeable lens"),
        ("Fujifilm", "X100{g}", "V,VI", "Compact Cameras", 1599, ""),
        ("Fujifilm", "X-S{g}", "10,20", "Mirrorless Cameras", 1299,
         "image stabilisation|interchangeable lens"),
        ("Fujifilm", "GFX100{g}", "II,S II", "Mirrorless Cameras", 4999,
         "weather sealing|interchangeable lens"),
        ("Panasonic", "Lumix S{g}", "5 II,5 IIX,9", "Mirrorless Cameras", 1999,
         "image stabilisation|interchangeable lens"),
        ("Panasonic", "Lumix G{g}", "97,9 II", "Mirrorless Cameras", 1199,
         "weather sealing|interchangeable lens"),
        ("GoPro", "HERO{g} Black", "11,12,13", "Action Cameras", 399,
         "waterproof|image stabilisation"),
        ("DJI", "Osmo Action {g}", "4,5 Pro", "Action Cameras", 349, "waterproof"),
        ("DJI", "Mini {g} Pro", "3,4", "Drones", 759, "obstacle avoidance|4K video"),
        ("DJI", "Air {g}", "3,3S", "Drones", 1099, "obstacle avoidance|4K video"),
        ("DJI", "Mavic {g} Pro", "3,4", "Drones", 2199, "obstacle avoidance|4K video"),
        ("DJI", "Osmo Pocket {g}", "2,3", "Compact Cameras", 519, "3-axis stabilisation"),
        ("Insta360", "X{g}", "3,4,5", "Action Cameras", 499, "waterproof"),
    ],
    "Smartwatches": [
        ("Apple", "Watch Series {g}", "9,10,11", "Smartwatches", 399, "ECG|always-on display"),
        ("Apple", "Watch Ultra {g}", "2,3", "GPS Sports Watches", 799, "GPS|cellular"),
        ("Apple", "Watch SE ({g} gen)", "2nd,3rd", "Smartwatches", 249, ""),
        ("Samsung", "Galaxy Watch{g}", "6,7,8", "Smartwatches", 299, "ECG"),
        ("Samsung", "Galaxy Watch Ultra", "", "GPS Sports Watches", 649, "GPS"),
        ("Samsung", "Galaxy Fit{g}", "3", "Fitness Trackers", 59, "heart rate monitor"),
        ("Huawei", "Watch GT {g}", "4,5,6", "Smartwatches", 249, "long battery life"),
        ("Huawei", "Watch {g}", "4 Pro,5", "Smartwatches", 449, "ECG"),
        ("Huawei", "Band {g}", "9,10", "Fitness Trackers", 59, "sleep tracking"),
        ("Xiaomi", "Smart Band {g}", "8,9,10", "Fitness Trackers", 49, "sleep tracking"),
        ("Xiaomi", "Watch S{g}", "3,4", "Smartwatches", 149, ""),
        ("Garmin", "Forerunner {g}", "165,265,965", "GPS Sports Watches", 449, "GPS"),
        ("Garmin", "Fenix {g}", "7 Pro,8", "GPS Sports Watches", 899, "GPS|long battery life"),
        ("Garmin", "Venu {g}", "3,X1", "Smartwatches", 449, "GPS"),
        ("Garmin", "Instinct {g}", "2X Solar,3", "GPS Sports Watches", 399,
         "GPS|long battery life"),
        ("Google", "Pixel Watch {g}", "2,3,4", "Smartwatches", 349, "heart rate monitor"),
        ("Fitbit", "Charge {g}", "5,6", "Fitness Trackers", 159, "GPS|heart rate monitor"),
        ("Amazfit", "GTR {g}", "4,Balance", "Smartwatches", 199, "GPS"),
        ("Amazfit", "Band {g}", "7", "Fitness Trackers", 49, ""),
    ],
    "TVs": [
        ("Samsung", "QN90{g} Neo QLED", "C,D,F", "Mini LED & QLED TVs", 1799, "4K|local dimming"),
        ("Samsung", "S90{g} OLED", "C,D,F", "OLED TVs", 1999, "4K|HDR10+"),
        ("Samsung", "Crystal UHD DU{g}", "7000,8000", "LED TVs", 479, "4K"),
        ("Samsung", "The Frame LS03{g}", "D,F", "Mini LED & QLED TVs", 1299, "4K"),
        ("LG", "OLED evo C{g}", "3,4,5", "OLED TVs", 1799, "4K|Dolby Vision"),
        ("LG", "OLED evo G{g}", "3,4,5", "OLED TVs", 2499, "4K|Dolby Vision"),
        ("LG", "QNED{g}", "80,85", "Mini LED & QLED TVs", 899, "4K"),
        ("LG", "UHD UT{g}", "75,80", "LED TVs", 449, "4K"),
        ("Sony", "Bravia {g}", "7,9", "Mini LED & QLED TVs", 1699, "4K|Dolby Vision"),
        ("Sony", "Bravia 8 II", "", "OLED TVs", 2799, "4K|Dolby Vision"),
        ("Sony", "Bravia XR A{g}L", "80,95", "OLED TVs", 2499, "4K|Dolby Vision"),
        ("TCL", "C{g}", "745,755,855", "Mini LED & QLED TVs", 999, "4K|local dimming"),
        ("TCL", "Q{g}", "6,7", "LED TVs", 549, "4K"),
        ("Hisense", "U{g}", "7N,8N", "Mini LED & QLED TVs", 899, "4K|local dimming"),
        ("Hisense", "A{g}", "6N,7N", "LED TVs", 379, "4K"),
        ("Xiaomi", "TV A Pro", "", "LED TVs", 399, "4K"),
        ("Xiaomi", "TV S Pro Mini LED", "", "Mini LED & QLED TVs", 999, "4K|local dimming"),
        ("Philips", "OLED{g}", "808,908", "OLED TVs", 1699, "4K|Dolby Vision"),
        ("Philips", "Ambilight PUS{g}", "8509,8909", "LED TVs", 699, "4K"),
        ("Huawei", "Vision Smart Screen {g}", "SE,4", "Mini LED & QLED TVs", 899, "4K"),
    ],
    "Speakers": [
        ("Sony", "ULT Field {g}", "1,7", "Portable Speakers", 149, "bluetooth|waterproof"),
        ("Sony", "HT-A{g}", "5000,7000", "Soundbars", 899, "Dolby Atmos"),
        ("Sony", "SRS-XB100", "", "Portable Speakers", 59, "bluetooth"),
        ("Bose", "SoundLink Flex", "", "Portable Speakers", 149, "bluetooth|waterproof"),
        ("Bose", "SoundLink Max", "", "Portable Speakers", 399, "bluetooth"),
        ("Bose", "Smart Ultra Soundbar", "", "Soundbars", 899, "Dolby Atmos|voice assistant"),
        ("Bose", "Smart Soundbar", "", "Soundbars", 499, "Dolby Atmos"),
        ("JBL", "Flip {g}", "6,7", "Portable Speakers", 129, "bluetooth|waterproof"),
        ("JBL", "Charge {g}", "5,6", "Portable Speakers", 179, "bluetooth|waterproof"),
        ("JBL", "Go {g}", "3,4", "Portable Speakers", 49, "bluetooth"),
        ("JBL", "Bar {g}", "500,800,1000", "Soundbars", 599, "Dolby Atmos"),
        ("JBL", "PartyBox {g}", "110,310,Encore", "Portable Speakers", 399,
         "bluetooth|party lights"),
        ("Apple", "HomePod ({g} generation)", "2nd", "Smart Speakers", 299,
         "voice assistant|spatial audio"),
        ("Apple", "HomePod mini", "", "Smart Speakers", 99, "voice assistant"),
        ("Marshall", "Emberton {g}", "II,III", "Portable Speakers", 169,
         "bluetooth|water resistant"),
        ("Marshall", "Stanmore {g}", "III", "Smart Speakers", 379, "bluetooth"),
        ("Xiaomi", "Smart Speaker Pro", "", "Smart Speakers", 49, "voice assistant"),
        ("Huawei", "Sound X", "", "Smart Speakers", 299, "hi-res audio"),
        ("Amazon", "Echo Dot ({g}th Gen)", "5", "Smart Speakers", 49, "voice assistant"),
        ("Amazon", "Echo Studio", "", "Smart Speakers", 199, "voice assistant|Dolby Atmos"),
        ("Google", "Nest Audio", "", "Smart Speakers", 99, "voice assistant"),
        ("Sonos", "Era {g}", "100,300", "Smart Speakers", 249, "Wi-Fi"),
        ("Sonos", "Arc Ultra", "", "Soundbars", 999, "Dolby Atmos"),
        ("Sonos", "Move {g}", "2", "Portable Speakers", 449, "bluetooth|Wi-Fi"),
        ("Samsung", "HW-Q{g}", "800D,990D", "Soundbars", 999, "Dolby Atmos"),
        ("LG", "S{g}", "90TY,95TR", "Soundbars", 999, "Dolby Atmos"),
    ],
    "Monitors": [
        ("Dell", "UltraSharp U{g}", "2724D,2723QE,3225QE", "Professional Monitors", 579,
         "USB-C|height adjustable"),
        ("Dell", "S{g}", "2425H,2725H", "Office Monitors", 179, "built-in speakers"),
        ("Dell", "Alienware AW{g}", "2725DF,3225QF", "Gaming Monitors", 899,
         "OLED display|240Hz"),
        ("LG", "UltraGear {g}", "27GS60F,27GR95QE,32GS95UE", "Gaming Monitors", 799, "240Hz"),
        ("LG", "UltraFine {g}", "27UN880,32UN880", "Professional Monitors", 599, "4K|USB-C"),
        ("LG", "{g} IPS Monitor", "24MR400,27MR400", "Office Monitors", 129, ""),
        ("Samsung", "Odyssey G{g}", "5,7,9", "Gaming Monitors", 499, "curved|144Hz"),
        ("Samsung", "Odyssey OLED G{g}", "6,8", "Gaming Monitors", 999, "OLED display|240Hz"),
        ("Samsung", "ViewFinity S{g}", "6,8,9", "Professional Monitors", 399, "4K|USB-C"),
        ("Samsung", "Smart Monitor M{g}", "7,8", "Office Monitors", 399, "smart TV"),
        ("Asus", "ROG Swift PG{g}", "27AQDM,32UCDM", "Gaming Monitors", 999,
         "OLED display|240Hz"),
        ("Asus", "ProArt PA{g}", "278CV,279CRV", "Professional Monitors", 469,
         "USB-C|height adjustable"),
        ("Asus", "VA{g}", "24EHF,27EHF", "Office Monitors", 119, ""),
        ("Apple", "Studio Display", "", "Professional Monitors", 1599, "built-in speakers"),
        ("Apple", "Pro Display XDR", "", "Professional Monitors", 4999, "HDR"),
        ("AOC", "{g} Gaming Monitor", "24G2,27G2SP,Q27G3XMN", "Gaming Monitors", 199, "144Hz"),
        ("BenQ", "PD{g}", "2705U,3205U", "Professional Monitors", 549, "4K|USB-C"),
        ("BenQ", "MOBIUZ EX{g}", "2710Q,270QM", "Gaming Monitors", 399, "144Hz"),
        ("Huawei", "MateView {g}", "SE,GT", "Office Monitors", 399, ""),
        ("Xiaomi", "Gaming Monitor G{g}", "24,27i", "Gaming Monitors", 149, "144Hz"),
        ("HP", "M{g}f", "24,27", "Office Monitors", 149, ""),
    ],
    "Games": [
        ("Nintendo", "Switch 2", "", "Home Consoles", 449, "handheld mode"),
        ("Nintendo", "Switch OLED", "", "Home Consoles", 349, "handheld mode|OLED display"),
        ("Nintendo", "Switch Lite", "", "Handheld Consoles", 199, "handheld mode"),
        ("Sony", "PlayStation 5 {g}", "Digital Edition,Slim,Pro", "Home Consoles", 499,
         "4K gaming|ray tracing"),
        ("Sony", "PlayStation Portal", "", "Handheld Consoles", 199, "Wi-Fi"),
        ("Microsoft", "Xbox Series {g}", "S,X", "Home Consoles", 499,
         "4K gaming|backwards compatible"),
        ("Valve", "Steam Deck {g}", "LCD,OLED", "Handheld Consoles", 549, "handheld mode"),
        ("Asus", "ROG Ally {g}", "Z1,X", "Handheld Consoles", 649, "handheld mode"),
        ("Meta", "Quest {g}", "3S,3", "VR Headsets", 499, "mixed reality|hand tracking"),
        ("Sony", "PlayStation VR{g}", "2", "VR Headsets", 399, "haptic feedback"),
        ("Nintendo", "The Legend of Zelda: Tears of the Kingdom", "", "Video Games", 69,
         "open world|single player"),
        ("Nintendo", "Mario Kart World", "", "Video Games", 79,
         "online multiplayer|family friendly"),
        ("Nintendo", "Super Mario Bros. Wonder", "", "Video Games", 59, "co-op|family friendly"),
        ("Nintendo", "Animal Crossing: New Horizons", "", "Video Games", 59, "family friendly"),
        ("Nintendo", "Pokémon Legends: Z-A", "", "Video Games", 59, "single player"),
        ("Nintendo", "Donkey Kong Bananza", "", "Video Games", 69,
         "single player|family friendly"),
        ("Sony", "Marvel's Spider-Man 2", "", "Video Games", 69, "open world|single player"),
        ("Sony", "Ghost of Yōtei", "", "Video Games", 69, "open world|single player"),
        ("Sony", "Astro Bot", "", "Video Games", 59, "family friendly"),
        ("Sony", "Gran Turismo 7", "", "Video Games", 49, "online multiplayer"),
        ("Microsoft", "Forza Horizon 5 ({g})", "Xbox,PS5", "Video Games", 59,
         "open world|online multiplayer"),
        ("Microsoft", "Starfield", "", "Video Games", 69, "open world|single player"),
        ("Microsoft", "Indiana Jones and the Great Circle ({g})", "Xbox,PS5", "Video Games", 69,
         "single player"),
        ("Ubisoft", "Assassin's Creed Shadows ({g})", "PS5,Xbox,PC", "Video Games", 69,
         "open world"),
        ("Ubisoft", "Just Dance {g}", "2025,2026", "Video Games", 49, "family friendly"),
        ("Electronic Arts", "EA Sports FC {g}", "25,26", "Video Games", 69, "online multiplayer"),
        ("Electronic Arts", "Battlefield 6 ({g})", "PS5,Xbox,PC", "Video Games", 69,
         "online multiplayer"),
        ("Capcom", "Monster Hunter Wilds ({g})", "PS5,Xbox,PC", "Video Games", 69,
         "co-op|open world"),
        ("Capcom", "Resident Evil 4 ({g})", "PS5,Xbox,PC", "Video Games", 39, "single player"),
        ("Capcom", "Street Fighter 6 ({g})", "PS5,Xbox,PC", "Video Games", 49,
         "online multiplayer"),
    ],
    "Software": [
        ("Microsoft", "365 {g}", "Personal,Family", "Office & Productivity", 99,
         "1-year subscription|cloud storage"),
        ("Microsoft", "Office Home 2024", "", "Office & Productivity", 149, "perpetual licence"),
        ("Microsoft", "Windows 11 {g}", "Home,Pro", "Utilities", 139, "perpetual licence"),
        ("Adobe", "Photoshop", "", "Creative Software", 263, "1-year subscription|AI features"),
        ("Adobe", "Creative Cloud All Apps", "", "Creative Software", 659,
         "1-year subscription|cloud storage"),
        ("Adobe", "Lightroom", "", "Creative Software", 119, "1-year subscription"),
        ("Adobe", "Acrobat Pro", "", "Office & Productivity", 239, "1-year subscription"),
        ("Apple", "Final Cut Pro", "", "Creative Software", 299, "perpetual licence"),
        ("Apple", "Logic Pro", "", "Creative Software", 199, "perpetual licence"),
        ("Kaspersky", "{g}", "Standard,Plus,Premium", "Security Software", 59,
         "1-year subscription|ransomware protection"),
        ("Norton", "360 {g}", "Standard,Deluxe,Premium", "Security Software", 49,
         "1-year subscription|VPN"),
        ("McAfee", "Total Protection", "", "Security Software", 39, "1-year subscription"),
        ("Bitdefender", "Total Security", "", "Security Software", 49,
         "1-year subscription|ransomware protection"),
        ("Corel", "CorelDRAW Graphics Suite", "", "Creative Software", 499,
         "1-year subscription"),
        ("Parallels", "Desktop {g} for Mac", "19,20", "Utilities", 99, "1-year subscription"),
        ("Kingsoft", "WPS Office Pro", "", "Office & Productivity", 29,
         "1-year subscription|cloud storage"),
    ],
    "Accessories": [
        # Phone cases
        ("Apple", "iPhone {g} Silicone Case with MagSafe", "15,16,17", "Phone Cases", 49,
         "MagSafe|drop protection", "Phones"),
        ("Apple", "iPhone {g} Clear Case with MagSafe", "15,16,17", "Phone Cases", 49,
         "MagSafe", "Phones"),
        ("Samsung", "Galaxy S{g} Silicone Case", "24,25", "Phone Cases", 29, "drop protection",
         "Phones"),
        ("Samsung", "Galaxy S{g} Smart View Wallet Case", "24,25", "Phone Cases", 49,
         "card slot", "Phones"),
        ("Huawei", "Mate {g} Pro Leather Case", "60,70", "Phone Cases", 39, "", "Phones"),
        ("Xiaomi", "Xiaomi {g} Protective Case", "14,15", "Phone Cases", 19, "", "Phones"),
        ("Google", "Pixel {g} Case", "9,10", "Phone Cases", 29, "", "Phones"),
        ("Spigen", "Ultra Hybrid Case for iPhone {g}", "15,16,17", "Phone Cases", 17,
         "drop protection|MagSafe", "Phones", "Apple"),
        ("Spigen", "Tough Armor Case for Galaxy S{g}", "24,25", "Phone Cases", 19,
         "drop protection", "Phones", "Samsung"),
        ("OtterBox", "Defender Series Case for iPhone {g}", "15,16,17", "Phone Cases", 59,
         "drop protection", "Phones", "Apple"),
        # Chargers
        ("Apple", "20W USB-C Power Adapter", "", "Chargers", 19, "USB-C|fast charging",
         "Phones|Tablets"),
        ("Apple", "35W Dual USB-C Port Compact Power Adapter", "", "Chargers", 59, "USB-C",
         "Phones|Tablets|Laptops"),
        ("Apple", "MagSafe Charger", "", "Chargers", 39, "MagSafe|wireless charging", "Phones"),
        ("Apple", "70W USB-C Power Adapter", "", "Chargers", 59, "USB-C", "Laptops"),
        ("Apple", "Watch Magnetic Fast Charger", "", "Chargers", 29, "fast charging",
         "Smartwatches"),
        ("Samsung", "25W Super Fast Charger", "", "Chargers", 19, "USB-C|fast charging",
         "Phones|Tablets"),
        ("Samsung", "45W Super Fast Charger", "", "Chargers", 49, "USB-C|fast charging",
         "Phones|Tablets|Laptops"),
        ("Samsung", "15W Wireless Charger Duo", "", "Chargers", 59, "wireless charging",
         "Phones|Smartwatches"),
        ("Huawei", "SuperCharge {g}W Charger", "66,88", "Chargers", 39, "fast charging",
         "Phones|Tablets"),
        ("Xiaomi", "{g}W HyperCharge Adapter", "67,120", "Chargers", 29, "fast charging|GaN",
         "Phones|Tablets"),
        ("Google", "45W USB-C Charger", "", "Chargers", 39, "USB-C|fast charging", "Phones"),
        ("Lenovo", "ThinkPad 65W USB-C Adapter", "", "Chargers", 49, "USB-C", "Laptops"),
        ("Anker", "Nano {g}W Charger", "30,45,65", "Chargers", 29, "USB-C|GaN",
         "Phones|Tablets|Laptops"),
        ("Anker", "Prime 100W GaN Charger", "", "Chargers", 79, "USB-C|GaN", "Laptops|Phones"),
        ("Belkin", "BoostCharge Pro {g}W", "65,108", "Chargers", 49, "USB-C|GaN",
         "Laptops|Phones"),
        ("Belkin", "BoostCharge Pro 3-in-1 Charger with MagSafe", "", "Chargers", 149,
         "MagSafe|wireless charging", "Phones|Smartwatches", "Apple"),
        ("Ugreen", "Nexode {g}W Charger", "65,100,140", "Chargers", 39, "USB-C|GaN",
         "Laptops|Phones|Tablets"),
        # Screen protectors
        ("Spigen", "GLAS.tR EZ Fit Screen Protector for iPhone {g}", "15,16,17",
         "Screen Protectors", 14, "tempered glass", "Phones", "Apple"),
        ("Belkin", "ScreenForce UltraGlass for iPhone {g}", "16,17", "Screen Protectors", 39,
         "tempered glass", "Phones", "Apple"),
        ("ZAGG", "InvisibleShield Glass Elite for Galaxy S{g}", "24,25", "Screen Protectors", 39,
         "tempered glass", "Phones", "Samsung"),
        ("Samsung", "Galaxy Tab S{g} Anti-Reflecting Screen Protector", "9,10",
         "Screen Protectors", 39, "", "Tablets"),
        ("Huawei", "Mate {g} Pro Tempered Glass Screen Protector", "60,70", "Screen Protectors",
         19, "tempered glass", "Phones"),
        ("Xiaomi", "Xiaomi {g} Tempered Glass Screen Protector", "14,15", "Screen Protectors", 9,
         "tempered glass", "Phones"),
        # Power banks
        ("Anker", "PowerCore {g}K", "10,20,26", "Power Banks", 39, "fast charging",
         "Phones|Tablets"),
        ("Anker", "MagGo Power Bank 10K", "", "Power Banks", 69, "MagSafe|wireless charging",
         "Phones", "Apple"),
        ("Xiaomi", "Power Bank {g}mAh", "10000,20000", "Power Banks", 25, "fast charging",
         "Phones"),
        ("Apple", "MagSafe Battery Pack", "", "Power Banks", 99, "MagSafe", "Phones"),
        ("Ugreen", "Nexode Power Bank {g}W", "65,100", "Power Banks", 59, "USB-C|fast charging",
         "Phones|Laptops"),
        ("Samsung", "25W Battery Pack 10000mAh", "", "Power Banks", 39, "fast charging",
         "Phones"),
        ("Huawei", "SuperCharge Power Bank 12000mAh", "", "Power Banks", 59, "fast charging",
         "Phones"),
        # Cables, docks and hubs
        ("Apple", "USB-C Woven Charge Cable ({g} m)", "1,2", "Cables", 19, "USB-C|braided",
         "Phones|Tablets|Laptops"),
        ("Apple", "Thunderbolt 4 Pro Cable", "", "Cables", 129, "Thunderbolt 4", "Laptops"),
        ("Anker", "PowerLine III USB-C Cable", "", "Cables", 15, "USB-C", "Phones|Tablets"),
        ("Ugreen", "USB-C to USB-C Cable {g}W", "100,240", "Cables", 12, "USB-C|braided",
         "Phones|Laptops"),
        ("Belkin", "BoostCharge USB-C to Lightning Cable", "", "Cables", 24, "", "Phones",
         "Apple"),
        ("Garmin", "Charging Cable", "", "Cables", 29, "", "Smartwatches"),
        ("Anker", "{g}-in-1 USB-C Hub", "7,10", "Docks & Hubs", 49, "USB-C", "Laptops|Tablets"),
        ("CalDigit", "TS{g} Plus", "3,4", "Docks & Hubs", 399, "Thunderbolt 4", "Laptops"),
        ("Dell", "WD{g} Dock", "19S,22TB4", "Docks & Hubs", 249, "USB-C", "Laptops"),
        ("Ugreen", "Revodok {g}-in-1 USB-C Hub", "6,9", "Docks & Hubs", 39, "USB-C",
         "Laptops|Tablets"),
        ("Lenovo", "ThinkPad Universal USB-C Dock", "", "Docks & Hubs", 229, "USB-C",
         "Laptops"),
        ("Belkin", "Connect USB-C {g}-in-1 Hub", "7,11", "Docks & Hubs", 99, "USB-C",
         "Laptops"),
        # Bags
        ("Tomtoc", "360 Protective Laptop Sleeve {g}-inch", "13,14,16", "Laptop Bags", 29,
         "padded", "Laptops"),
        ("Samsonite", "Pro Laptop Backpack", "", "Laptop Bags", 149, "padded", "Laptops"),
        ("Targus", "CityGear {g} Laptop Backpack", "14,17", "Laptop Bags", 59, "padded",
         "Laptops"),
        ("Lenovo", "ThinkPad Professional Backpack", "", "Laptop Bags", 79, "padded",
         "Laptops"),
        ("Dell", "EcoLoop Pro Backpack", "", "Laptop Bags", 79, "padded", "Laptops"),
        ("HP", "Renew Executive Laptop Bag", "", "Laptop Bags", 69, "padded", "Laptops"),
        ("Asus", "ROG Ranger BP{g} Backpack", "2500,3703", "Laptop Bags", 99, "padded",
         "Laptops"),
        ("Peak Design", "Everyday Backpack {g}L", "20,30", "Camera Bags", 279,
         "padded|water resistant", "Cameras|Laptops"),
        # Mice and keyboards
        ("Logitech", "MX Master {g}S", "3", "Mice", 99, "ergonomic|rechargeable", "Laptops"),
        ("Logitech", "MX Anywhere {g}S", "3", "Mice", 79, "rechargeable", "Laptops|Tablets"),
        ("Logitech", "G Pro X Superlight {g}", "2", "Mice", 159, "wireless", "Laptops"),
        ("Logitech", "M{g} Wireless Mouse", "185,325,650", "Mice", 19, "wireless", "Laptops"),
        ("Apple", "Magic Mouse", "", "Mice", 79, "rechargeable", "Laptops"),
        ("Razer", "DeathAdder V{g} Pro", "3", "Mice", 149, "wireless|ergonomic", "Laptops"),
        ("Microsoft", "Bluetooth Ergonomic Mouse", "", "Mice", 49, "bluetooth|ergonomic",
         "Laptops"),
        ("Huawei", "Bluetooth Mouse ({g} generation)", "2nd", "Mice", 29, "bluetooth",
         "Laptops|Tablets"),
        ("Xiaomi", "Wireless Mouse {g}", "2,3", "Mice", 15, "wireless", "Laptops"),
        ("Dell", "Premier Rechargeable Mouse MS{g}", "7421W,900", "Mice", 89, "rechargeable",
         "Laptops"),
        ("HP", "{g} Wireless Mouse", "420,430", "Mice", 29, "wireless", "Laptops"),
        ("Lenovo", "ThinkPad Bluetooth Silent Mouse", "", "Mice", 29, "bluetooth", "Laptops"),
        ("SteelSeries", "Aerox {g} Wireless", "3,5", "Mice", 139, "wireless", "Laptops"),
        ("Logitech", "MX Keys S", "", "Keyboards", 109, "wireless|backlit keyboard", "Laptops"),
        ("Logitech", "MX Mechanical Mini", "", "Keyboards", 149, "mechanical switches",
         "Laptops"),
        ("Logitech", "Keys-To-Go {g}", "2", "Keyboards", 79, "bluetooth", "Tablets"),
        ("Apple", "Magic Keyboard with Touch ID", "", "Keyboards", 149, "bluetooth", "Laptops"),
        ("Apple", "Magic Keyboard for iPad Pro", "", "Keyboards", 299,
         "backlit keyboard|magnetic attachment", "Tablets"),
        ("Samsung", "Galaxy Tab S{g} Book Cover Keyboard", "9,10", "Keyboards", 159,
         "magnetic attachment", "Tablets"),
        ("Microsoft", "Surface Pro Keyboard", "", "Keyboards", 139, "backlit keyboard",
         "Laptops"),
        ("Razer", "BlackWidow V{g}", "4,4 Pro", "Keyboards", 169, "mechanical switches",
         "Laptops"),
        ("Keychron", "K{g} Pro", "2,8", "Keyboards", 99, "mechanical switches|bluetooth",
         "Laptops"),
        ("Huawei", "MatePad Smart Keyboard", "", "Keyboards", 99, "magnetic attachment",
         "Tablets"),
        ("Xiaomi", "Pad {g} Keyboard", "6,7", "Keyboards", 79, "magnetic attachment", "Tablets"),
        ("Lenovo", "Tab P{g} Keyboard Pack", "11,12", "Keyboards", 79, "", "Tablets"),
        # Styluses
        ("Apple", "Pencil Pro", "", "Styluses", 129, "pressure sensitivity|magnetic attachment",
         "Tablets"),
        ("Apple", "Pencil (USB-C)", "", "Styluses", 79, "magnetic attachment", "Tablets"),
        ("Samsung", "S Pen Pro", "", "Styluses", 99, "pressure sensitivity", "Tablets|Phones"),
        ("Huawei", "M-Pencil ({g} generation)", "3rd", "Styluses", 99, "pressure sensitivity",
         "Tablets"),
        ("Xiaomi", "Focus Pen", "", "Styluses", 79, "pressure sensitivity", "Tablets"),
        ("Lenovo", "Tab Pen Plus", "", "Styluses", 49, "pressure sensitivity", "Tablets"),
        ("Microsoft", "Surface Slim Pen {g}", "2", "Styluses", 129, "haptic feedback",
         "Laptops"),
        # Memory cards
        ("SanDisk", "Extreme PRO SDXC", "", "Memory Cards", 29, "V30 video speed", "Cameras"),
        ("SanDisk", "Extreme microSDXC", "", "Memory Cards", 25, "V30 video speed", "Cameras"),
        ("SanDisk", "microSDXC Card for Nintendo Switch", "", "Memory Cards", 29, "", "Games",
         "Nintendo"),
        ("Samsung", "PRO Plus microSDXC", "", "Memory Cards", 19, "V30 video speed", "Cameras",
         "*"),
        ("Lexar", "Professional 1800x SDXC", "", "Memory Cards", 59, "UHS-II", "Cameras"),
        ("Sony", "TOUGH SF-G SDXC", "", "Memory Cards", 129, "UHS-II", "Cameras", "*"),
        # Camera lenses, batteries and gear
        ("Canon", "RF {g}mm F1.8 STM", "35,50,85", "Camera Lenses", 299, "", "Cameras"),
        ("Canon", "RF 24-105mm F4 L IS USM", "", "Camera Lenses", 1099, "image stabilisation",
         "Cameras"),
        ("Nikon", "NIKKOR Z {g}mm f/1.8 S", "35,50,85", "Camera Lenses", 599, "", "Cameras"),
        ("Nikon", "NIKKOR Z 24-120mm f/4 S", "", "Camera Lenses", 1099, "", "Cameras"),
        ("Sony", "FE {g}mm F1.8", "50,85", "Camera Lenses", 249, "", "Cameras"),
        ("Sony", "FE 24-70mm F2.8 GM II", "", "Camera Lenses", 2299, "weather sealing",
         "Cameras"),
        ("Fujifilm", "XF{g}mm F1.4 R WR", "16,23,33", "Camera Lenses", 599, "weather sealing",
         "Cameras"),
        ("Sigma", "{g}mm F1.4 DG DN Art", "35,50", "Camera Lenses", 849, "", "Cameras"),
        ("Tamron", "28-75mm F/2.8 Di III VXD G2", "", "Camera Lenses", 879, "weather sealing",
         "Cameras"),
        ("Panasonic", "Lumix S {g}mm F1.8", "50,85", "Camera Lenses", 449, "weather sealing",
         "Cameras"),
        ("Canon", "LP-E{g} Battery Pack", "6NH,17", "Camera Batteries", 79, "rechargeable",
         "Cameras"),
        ("Sony", "NP-FZ100 Rechargeable Battery", "", "Camera Batteries", 79, "rechargeable",
         "Cameras"),
        ("Nikon", "EN-EL15c Rechargeable Battery", "", "Camera Batteries", 69, "rechargeable",
         "Cameras"),
        ("Fujifilm", "NP-W235 Rechargeable Battery", "", "Camera Batteries", 79, "rechargeable",
         "Cameras"),
        ("GoPro", "Enduro Rechargeable Battery", "", "Camera Batteries", 25, "rechargeable",
         "Cameras"),
        ("DJI", "Mini {g} Pro Intelligent Flight Battery", "3,4", "Camera Batteries", 89,
         "rechargeable", "Cameras"),
        ("Manfrotto", "Befree Advanced Travel Tripod", "", "Tripods", 229, "quick release",
         "Cameras"),
        ("Peak Design", "Travel Tripod", "", "Tripods", 379, "quick release", "Cameras"),
        ("DJI", "Osmo Mobile {g}", "6,7P", "Gimbals", 149, "3-axis stabilisation", "Phones",
         "*"),
        ("DJI", "RS {g} Mini", "3,4", "Gimbals", 369, "3-axis stabilisation", "Cameras", "*"),
        ("Insta360", "Flow {g} Pro", "2", "Gimbals", 159, "3-axis stabilisation", "Phones",
         "*"),
        # Watch bands
        ("Apple", "Sport Band ({g}mm)", "42,46", "Watch Bands", 49, "", "Smartwatches"),
        ("Apple", "Milanese Loop", "", "Watch Bands", 99, "", "Smartwatches"),
        ("Samsung", "Galaxy Watch Sport Band", "", "Watch Bands", 39, "", "Smartwatches"),
        ("Garmin", "QuickFit {g} Silicone Band", "22,26", "Watch Bands", 49, "quick release",
         "Smartwatches"),
        ("Huawei", "Watch GT Leather Strap", "", "Watch Bands", 49, "", "Smartwatches"),
        ("Xiaomi", "Smart Band Strap", "", "Watch Bands", 9, "", "Smartwatches"),
        ("Spigen", "Rugged Armor Band for Apple Watch", "", "Watch Bands", 19, "",
         "Smartwatches", "Apple"),
        # Game controllers
        ("Sony", "DualSense Wireless Controller", "", "Game Controllers", 74, "haptic feedback",
         "Games"),
        ("Sony", "DualSense Edge", "", "Game Controllers", 199, "haptic feedback", "Games"),
        ("Microsoft", "Xbox Wireless Controller", "", "Game Controllers", 59, "bluetooth",
         "Games"),
        ("Microsoft", "Xbox Elite Wireless Controller Series {g}", "2", "Game Controllers", 179,
         "rechargeable", "Games"),
        ("Nintendo", "Switch 2 Pro Controller", "", "Game Controllers", 89, "rechargeable",
         "Games"),
        ("Nintendo", "Joy-Con 2 Pair", "", "Game Controllers", 94, "", "Games"),
        ("8BitDo", "Ultimate {g} Controller", "2C,Bluetooth", "Game Controllers", 49,
         "low latency", "Games"),
        ("Razer", "Wolverine V{g} Pro", "3", "Game Controllers", 199, "low latency", "Games"),
        # TV and monitor accessories
        ("Apple", "TV 4K ({g} generation)", "3rd", "Streaming Devices", 129, "4K|Dolby Vision",
         "TVs"),
        ("Amazon", "Fire TV Stick 4K Max", "", "Streaming Devices", 59, "4K|voice assistant",
         "TVs"),
        ("Google", "TV Streamer", "", "Streaming Devices", 99, "4K", "TVs"),
        ("Roku", "Streaming Stick 4K", "", "Streaming Devices", 49, "4K", "TVs"),
        ("Xiaomi", "TV Box S ({g} Gen)", "3rd", "Streaming Devices", 59, "4K", "TVs"),
        ("Sanus", "Advanced Full-Motion TV Wall Mount", "", "TV Mounts", 149, "full motion",
         "TVs"),
        ("Samsung", "Slim Fit Wall Mount", "", "TV Mounts", 99, "", "TVs"),
        ("LG", "Standard Wall Mount WB{g}", "21LGB,22EGB", "TV Mounts", 79, "", "TVs"),
        ("Sony", "SU-WL{g} Slim Wall Bracket", "450,855", "TV Mounts", 129, "", "TVs"),
        ("TCL", "TV Wall Mount", "", "TV Mounts", 39, "", "TVs"),
        ("Ergotron", "LX Desk Monitor Arm", "", "Monitor Arms", 189, "gas spring", "Monitors"),
        ("Dell", "Dual Monitor Arm MDA20", "", "Monitor Arms", 149, "gas spring", "Monitors"),
        ("Ugreen", "Monitor Arm", "", "Monitor Arms", 39, "", "Monitors"),
        ("Asus", "ROG Ergo Monitor Arm", "", "Monitor Arms", 199, "gas spring", "Monitors"),
    ],
}
# fmt: on


# Model-specific accessories: accessory template -> device model it fits. A case for the
# "iPhone {g}" fits "iPhone 16", "iPhone 16 Pro" ... of the same generation, nothing else.
_FITS_MODEL: dict[str, str] = {
    "iPhone {g} Silicone Case with MagSafe": "iPhone {g}",
    "iPhone {g} Clear Case with MagSafe": "iPhone {g}",
    "Galaxy S{g} Silicone Case": "Galaxy S{g}",
    "Galaxy S{g} Smart View Wallet Case": "Galaxy S{g}",
    "Mate {g} Pro Leather Case": "Mate {g} Pro",
    "Xiaomi {g} Protective Case": "Xiaomi {g}",
    "Pixel {g} Case": "Pixel {g}",
    "Ultra Hybrid Case for iPhone {g}": "iPhone {g}",
    "Tough Armor Case for Galaxy S{g}": "Galaxy S{g}",
    "Defender Series Case for iPhone {g}": "iPhone {g}",
    "GLAS.tR EZ Fit Screen Protector for iPhone {g}": "iPhone {g}",
    "ScreenForce UltraGlass for iPhone {g}": "iPhone {g}",
    "InvisibleShield Glass Elite for Galaxy S{g}": "Galaxy S{g}",
    "Galaxy Tab S{g} Anti-Reflecting Screen Protector": "Galaxy Tab S{g}",
    "Mate {g} Pro Tempered Glass Screen Protector": "Mate {g} Pro",
    "Xiaomi {g} Tempered Glass Screen Protector": "Xiaomi {g}",
    "Magic Keyboard for iPad Pro": "iPad Pro",
    "Galaxy Tab S{g} Book Cover Keyboard": "Galaxy Tab S{g}",
    "Pad {g} Keyboard": "Xiaomi Pad {g}",
    "Tab P{g} Keyboard Pack": "Tab P{g}",
    "Mini {g} Pro Intelligent Flight Battery": "Mini {g} Pro",
    "Watch GT Leather Strap": "Watch GT",
    "Surface Pro Keyboard": "Surface Pro",
    "Surface Slim Pen {g}": "Surface Pro",
    "Smart Band Strap": "Smart Band",
}

# Devices that take no accessories (a memory card is not a complement of a video game).
_NO_COMPLEMENTS = frozenset({"Video Games"})
# Accessory subcategory -> device subcategories it does not suit although their category is in
# its accessory_for (no lens for a compact camera, no keyboard for an e-reader).
_UNSUITED: dict[str, frozenset[str]] = {
    "Camera Lenses": frozenset({"Compact Cameras", "Action Cameras", "Drones"}),
    "Camera Bags": frozenset({"Action Cameras", "Drones"}),
    "Tripods": frozenset({"Drones"}),
    "Gimbals": frozenset({"Compact Cameras", "Action Cameras", "Drones"}),
    "Memory Cards": frozenset({"Drones"}),
    "Camera Batteries": frozenset({"Compact Cameras"}),
    "Watch Bands": frozenset({"Fitness Trackers"}),
    "Keyboards": frozenset({"E-readers"}),
    "Styluses": frozenset({"E-readers"}),
    "Mice": frozenset({"E-readers"}),
    "Docks & Hubs": frozenset({"E-readers"}),
}


def _split(text: object) -> tuple[str, ...]:
    return tuple(part for part in str(text).split(LIST_SEP) if part) if text else ()


@functools.cache
def _parse_lines() -> dict[str, list[_Line]]:
    """Turn the compact rows above into :class:`_Line` objects, grouped by category.

    Cached: parsed on first use, not at import. Callers must not mutate the result.
    """
    out: dict[str, list[_Line]] = {}
    for category, rows in _LINE_ROWS.items():
        lines = []
        for row in rows:
            brand, template, gens, sub, price, feats = row[:6]
            lines.append(
                _Line(
                    category=category,
                    brand=str(brand),
                    template=str(template),
                    gens=tuple(str(gens).split(",")) if gens else ("",),
                    subcategory=str(sub),
                    price=float(price),  # type: ignore[arg-type]
                    features=_split(feats),
                    accessory_for=_split(row[6]) if len(row) > 6 else (),
                    fits=str(row[7]) if len(row) > 7 else "",
                    fits_model=_FITS_MODEL.get(str(template), ""),
                )
            )
        out[category] = lines
    return out


# --------------------------------------------------------------------------------------------
# Small helpers
# --------------------------------------------------------------------------------------------

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]
BoolArray = NDArray[np.bool_]


def _sigmoid(x: FloatArray) -> FloatArray:
    return 1.0 / (1.0 + np.exp(-x))


def _logit(p: float) -> float:
    p = min(max(p, 1e-6), 1 - 1e-6)
    return float(np.log(p / (1 - p)))


def _charm_price(price: float) -> float:
    """Shop-style prices: 1299.99, 449.99, 29.99, 9.99."""
    if price >= 100:
        return max(round(price / 10.0) * 10.0 - 0.01, 99.99)
    return max(round(price) - 0.01, 4.99)


def _image_color(category: str, brand: str) -> str:
    """A stable RGB hex colour from category (hue) and brand (saturation, brightness).

    ``zlib.crc32`` rather than ``hash()``: string hashing is salted per process.
    """
    code = zlib.crc32(f"{category}/{brand}".encode())
    hue = (CATEGORIES[category].hue + ((code & 0xFF) / 255.0 - 0.5) * 0.06) % 1.0
    sat = 0.45 + 0.4 * (((code >> 8) & 0xFF) / 255.0)
    val = 0.55 + 0.35 * (((code >> 16) & 0xFF) / 255.0)
    r, g, b = colorsys.hsv_to_rgb(hue, sat, val)
    return f"#{round(r * 255):02x}{round(g * 255):02x}{round(b * 255):02x}"


def _join_en(parts: Sequence[str]) -> str:
    if len(parts) <= 1:
        return "".join(parts)
    return ", ".join(parts[:-1]) + " and " + parts[-1]


# Words that already say what an accessory or device is: the title then skips the noun
# ("Anker Nano 65W Charger", not "Anker Nano 65W Charger Charger").
_PRODUCT_WORDS = frozenset(
    (
        "adapter", "arm", "backpack", "band", "bank", "battery", "box", "bracket", "cable", "card",
        "case",
        "charger", "controller", "cover", "display", "dock", "earbuds", "film", "glass",
        "headphones", "hub", "keyboard", "loop", "monitor", "mount", "mouse", "pair", "pen",
        "pencil", "protector", "sleeve", "soundbar", "speaker", "stick", "strap", "streamer",
        "tripod",
    )
)  # fmt: skip


def _names_product(model: str, noun: str) -> bool:
    words = {w.strip("()").lower() for w in model.split()}
    return noun.lower() in model.lower() or bool(words & _PRODUCT_WORDS)


def _lower_words(text: str) -> str:
    """Lower-case ordinary words for running text, keeping acronyms: "OLED Smart TV"
    -> "OLED smart TV", "Over-Ear Headphones" -> "over-ear headphones"."""

    def lower(part: str) -> str:
        return part.lower() if part[:1].isalpha() and part[1:] == part[1:].lower() else part

    return " ".join("-".join(lower(p) for p in w.split("-")) for w in text.split())


def _article(word: str) -> str:
    """English indefinite article by sound: "an OLED", "an 18-inch", "an 8000 mAh", "a 4K"."""
    vowel = word[:1].lower() in "aeio" or word.startswith(("OLED", "LED", "HDR", "8", "11", "18"))
    eleven = word[:2] in ("11", "18") and (len(word) in (2, 5) or not word[2:3].isdigit())
    if word[:1] in "0123456789":
        vowel = word.startswith("8") or eleven
    return "an" if vowel else "a"


def _with_article(noun: str) -> str:
    if noun.endswith(("headphones", "earbuds")):
        return f"a pair of {noun}"
    return f"{_article(noun)} {noun}"


def _storage_label(gb: int) -> str:
    return f"{gb // 1024}TB" if gb >= 1024 and gb % 1024 == 0 else f"{gb}GB"


@functools.cache
def _cumulative(n: int, decay: float) -> tuple[float, ...]:
    """Cumulative probabilities of ``range(n)`` with weights ``decay ** i``."""
    w = [decay**i for i in range(n)]
    total = sum(w)
    return tuple(itertools.accumulate(x / total for x in w))


def _pick(u: float, n: int, decay: float = 1.0) -> int:
    """Index in ``range(n)`` from one uniform draw ``u``; ``decay < 1`` favours low indices.

    Items are built from a block of uniforms drawn at once: far faster than one
    ``Generator`` call per decision, and just as deterministic.
    """
    if decay == 1.0:
        return min(int(u * n), n - 1)
    return min(bisect.bisect_right(_cumulative(n, decay), u), n - 1)


def _ids(prefix: str, n: int) -> NDArray[np.object_]:
    width = max(5, len(str(max(n - 1, 0))))
    return np.array([f"{prefix}{i:0{width}d}" for i in range(n)], dtype=object)


def _allocate(total: int, shares: Sequence[float]) -> list[int]:
    """Largest-remainder split of ``total`` by ``shares`` with at least one per share."""
    k = len(shares)
    share = np.asarray(shares, dtype=np.float64)
    raw = share / share.sum() * (total - k)
    counts = np.floor(raw).astype(np.int64)
    rest = total - k - int(counts.sum())
    order = np.argsort(-(raw - counts), kind="stable")
    counts[order[:rest]] += 1
    return [int(c) + 1 for c in counts]


# --------------------------------------------------------------------------------------------
# Catalogue
# --------------------------------------------------------------------------------------------


@dataclass
class _Catalogue:
    items: pd.DataFrame
    category: IntArray  # category index per item
    brand: IntArray  # brand index per item
    log_price: FloatArray
    log_pop: FloatArray  # attractiveness (long-tailed)
    quality: FloatArray  # hidden product quality, feeds clicks, purchases and ratings
    release_day: FloatArray  # days since start_date (negative: released before the log)
    complements: IntArray  # (n_items, max_complements), -1 padded
    n_complements: IntArray
    cat_items: list[IntArray]  # item indices per category
    cat_log_median: FloatArray  # log median price per category


_N_UNIFORMS = 32  # uniforms per item: 16 decisions, then random keys of up to 16 features


def _sku_key(line: _Line, u: FloatArray) -> tuple[object, ...]:
    """What makes a product distinct (model, variant, colour), from the item's uniforms.

    Mirrors the draws in :func:`_make_item` so duplicates are rejected before the costly text
    is built.
    """
    sub = _SUBCATEGORIES[line.subcategory]
    n_gens = len(line.gens)
    gen = line.gens[n_gens - 1 - _pick(u[0], n_gens, 0.625)]
    key: list[object] = [line.brand, line.template.replace("{g}", gen)]
    if sub.variant in ("storage", "capacity"):
        key.append(_pick(u[2], len(sub.storage), 0.6))
    elif sub.variant == "screen":
        key.append(_pick(u[4], len(sub.screen)))
    elif sub.variant in _VARIANTS:
        key.append(_pick(u[7], len(_VARIANTS[sub.variant]), 0.45))
    if sub.palette:
        key.append(_pick(u[8], len(_PALETTES[sub.palette]), 0.7))
    return tuple(key)


def _make_item(
    line: _Line, u: FloatArray, z: FloatArray, condition: int, start: dt.date
) -> tuple[dict[str, object], float, int]:
    """One catalogue row from a product line; returns (row, quality, variant rank).

    ``u`` holds :data:`_N_UNIFORMS` uniforms (one per decision, in a fixed order) and ``z``
    two standard normals: drawing them in one block is far faster than one ``Generator``
    call per decision. ``condition`` indexes :data:`_CONDITIONS`.
    """
    sub = _SUBCATEGORIES[line.subcategory]
    brand = _BRANDS[line.brand]
    cat = CATEGORIES[line.category]
    n_gens = len(line.gens)
    gi = n_gens - 1 - _pick(u[0], n_gens, 0.625)  # newer generations listed more often
    gen = line.gens[gi]
    model = line.template.replace("{g}", gen)
    age = (n_gens - 1 - gi) if sub.versioned else _pick(u[1], 3)
    price = line.price * (0.9**age)  # older generations are discounted
    variant_rank = 0
    label_en = label_zh = ""

    storage = ram = screen = battery = megapixels = math.nan
    if sub.storage:
        si = _pick(u[2], len(sub.storage), 0.6)
        storage = float(sub.storage[si])
        if sub.variant == "storage":
            price *= _STORAGE_PRICE[si]
            variant_rank = si
            label_en = label_zh = _storage_label(sub.storage[si])
        elif sub.variant == "capacity":
            price *= (sub.storage[si] / sub.storage[0]) ** 0.65
            variant_rank = si
            label_en = label_zh = _storage_label(sub.storage[si])
        if sub.ram:
            # Bigger storage variants come with more memory.
            ri = min(len(sub.ram) - 1, si + _pick(u[3], 3) - 1)
            ram = float(sub.ram[max(ri, 0)])
    if sub.screen:
        si = _pick(u[4], len(sub.screen))
        screen = sub.screen[si]
        if sub.variant == "screen":
            price *= (screen / sub.screen_ref) ** 1.7
            variant_rank = abs(si - 1)
            label_en, label_zh = f'{screen:.0f}"', f"{screen:.0f}英寸"
    if sub.battery is not None:
        lo, hi = sub.battery
        step = 50 if lo >= 1000 else 10
        battery = float(round((lo + u[5] * (hi - lo)) / step) * step)
    if sub.megapixels:
        megapixels = float(sub.megapixels[_pick(u[6], len(sub.megapixels))])
    if sub.variant in _VARIANTS:
        options = _VARIANTS[sub.variant]
        vi = _pick(u[7], len(options), 0.45)
        label_en, label_zh, mult = options[vi]
        price *= mult
        variant_rank = vi

    color = color_zh = None
    if sub.palette:
        palette = _PALETTES[sub.palette]
        color = palette[_pick(u[8], len(palette), 0.7)]
        color_zh = _COLORS[color]

    pool = [
        f for f in _SUB_POOLS.get(line.subcategory, _POOLS[line.category]) if f not in line.features
    ]
    n_extra = min(len(pool), _pick(u[9], 3) + (0 if line.features else 1))
    chosen = sorted(np.argsort(u[16 : 16 + len(pool)])[:n_extra].tolist())
    features = list(line.features) + [pool[i] for i in chosen]

    cond, cond_en, cond_zh, cond_price, cond_desc, cond_desc_zh = _CONDITIONS[condition]
    price = _charm_price(price * cond_price * math.exp(0.06 * z[0]))

    # Titles: "<Brand> <model> <adjectives> <noun>, <variant>, <colour>"; the brand is not
    # repeated when the model already starts with it ("Xiaomi 15", "OnePlus 13").
    # Adjectives come from the line's defining features only ("Noise Cancelling").
    adjectives = [_FEATURES[f] for f in line.features if len(_FEATURES[f]) > 1][:2]
    # An adjective the model name already says is not repeated ("Galaxy A16 5G", not
    # "Galaxy A16 5G 5G Smartphone"), in either language.
    named = {w.lower() for w in model.split()}
    adjectives = [a for a in adjectives if not {w.lower() for w in a[1].split()} <= named]
    adj_en = " ".join(a[1] for a in adjectives)
    adj_zh = "".join(a[2] for a in adjectives)
    core_en = model if model.startswith(line.brand) else f"{line.brand} {model}"
    model_zh = model[len(line.brand) :].strip() if model.startswith(line.brand) else model
    core_zh = f"{brand.zh} {model_zh}"
    if _names_product(model, sub.noun):
        head_en = core_en  # the model already says what it is ("Xbox Wireless Controller")
    else:
        # Each word once after the model name: "Bluetooth" in both the adjective and the
        # noun, or "GPS" in the model and the noun, is written once.
        seen = {w.lower() for w in core_en.split()}
        extra: list[str] = []
        for word in f"{adj_en} {sub.noun}".split():
            if word.lower() not in seen:
                seen.add(word.lower())
                extra.append(word)
        head_en = " ".join([core_en, *extra])
    title = ", ".join(p for p in (head_en, label_en, color) if p)
    title_zh = " ".join(p for p in (core_zh, adj_zh + sub.noun_zh, label_zh, color_zh) if p)
    if cond_en:
        title += f" ({cond_en})"
        title_zh += f"（{cond_zh}）"

    specs_en: list[str] = []
    specs_zh: list[str] = []
    if not math.isnan(storage):
        specs_en.append(f"{_storage_label(int(storage))} of storage")
        specs_zh.append(f"存储容量{_storage_label(int(storage))}")
    if not math.isnan(ram):
        specs_en.append(f"{ram:.0f} GB of RAM")
        specs_zh.append(f"运行内存{ram:.0f}GB")
    if not math.isnan(screen):
        specs_en.append(f"{_article(f'{screen:g}')} {screen:g}-inch display")
        specs_zh.append(f"{screen:g}英寸屏幕")
    if not math.isnan(megapixels):
        specs_en.append(f"{_article(f'{megapixels:.0f}')} {megapixels:.0f} MP sensor")
        specs_zh.append(f"{megapixels * 100:.0f}万像素")
    if not math.isnan(battery):
        specs_en.append(f"{_article(f'{battery:.0f}')} {battery:.0f} mAh battery")
        specs_zh.append(f"电池容量{battery:.0f}mAh")
    tagline_en, tagline_zh = cat.taglines[_pick(u[10], len(cat.taglines))]
    desc = [f"The {core_en} is {_with_article(_lower_words(sub.noun))} from {line.brand}"]
    desc[0] += f" with {_join_en(features)}." if features else "."
    desc_zh = [f"{core_zh}是一款{brand.zh}{sub.noun_zh}"]
    desc_zh[0] += f"，支持{'、'.join(_FEATURES[f][0] for f in features)}。" if features else "。"
    if specs_en:
        desc.append(f"It offers {_join_en(specs_en)}.")
        desc_zh.append("配备" + "、".join(specs_zh) + "。")
    if color is not None:
        desc.append(f"Colour: {color}.")
        desc_zh.append(f"颜色：{color_zh}。")
    desc.append(tagline_en)
    desc_zh.append(tagline_zh)
    if cond_desc:
        desc.append(cond_desc)
        desc_zh.append(cond_desc_zh)

    year = start.year - 1 - (age if sub.versioned else _pick(u[11], 4))
    released = dt.date(year, 1, 1) + dt.timedelta(days=_pick(u[12], 365))

    row: dict[str, object] = {
        TITLE: title,
        BRAND: line.brand,
        MODEL: model,
        CATEGORY: line.category,
        SUBCATEGORY: line.subcategory,
        PRICE: price,
        DESCRIPTION: " ".join(desc),
        TITLE_ZH: title_zh,
        DESCRIPTION_ZH: "".join(desc_zh),
        BRAND_ZH: brand.zh,
        CATEGORY_ZH: cat.zh,
        STORAGE_GB: storage,
        RAM_GB: ram,
        SCREEN_INCH: screen,
        BATTERY_MAH: battery,
        MEGAPIXELS: megapixels,
        COLOR: color,
        FEATURES: LIST_SEP.join(features) if features else None,
        RELEASE_DATE: released,
        CONDITION: cond,
        ACCESSORY_FOR: LIST_SEP.join(line.accessory_for) if line.accessory_for else None,
        "_age": age,
    }
    quality = float(z[1]) + 0.25 * (brand.tier - 2)
    return row, quality, variant_rank + condition


def _build_catalogue(cfg: SynthConfig, rng: np.random.Generator) -> _Catalogue:
    lines_by_cat = _parse_lines()
    cat_names = list(CATEGORIES)
    counts = _allocate(cfg.n_items, [CATEGORIES[c].item_share for c in cat_names])
    rows: list[dict[str, object]] = []
    quality: list[float] = []
    vrank: list[int] = []
    spill = 0  # items a saturated category could not supply, passed to the next ones
    for cat, quota in zip(cat_names, counts, strict=True):
        lines = lines_by_cat[cat]
        n_by_brand: dict[str, int] = {}
        for line in lines:
            n_by_brand[line.brand] = n_by_brand.get(line.brand, 0) + 1
        # A brand's share of the category follows its market weight, not its number of lines.
        w = np.array([_BRANDS[li.brand].weight / n_by_brand[li.brand] for li in lines])
        cum = np.cumsum(w / w.sum())
        n = quota + spill
        seen: set[tuple[object, ...]] = set()  # membership only: str hashing is salted
        made = misses = 0
        # The same SKU is not listed twice. A category whose lines cannot supply more distinct
        # products (software at 5,000 items) hands the rest to the categories after it; the
        # last category (accessories, the largest product space) takes duplicates if it must.
        last = cat == cat_names[-1]
        # Once even the last category has run out of distinct products (catalogues of tens of
        # thousands of items), it takes duplicates at once instead of retrying 60 times each.
        saturated = False
        while made < n and (misses < 60 or last):
            u = rng.random(_N_UNIFORMS)
            line = lines[min(int(np.searchsorted(cum, u[15], side="right")), len(lines) - 1)]
            key = _sku_key(line, u)
            # A product already listed new comes back renewed, then open box (not software or
            # games).
            digital = cat == "Software" or line.subcategory == "Video Games"
            n_conditions = 1 if digital else len(_CONDITIONS)
            condition = 0
            while condition < n_conditions and (*key, condition) in seen:
                condition += 1
            if condition == n_conditions:
                if misses < 60:
                    misses += 1
                    continue
                saturated = True
                condition = 0
            seen.add((*key, condition))
            misses = 60 if saturated else 0
            row, q, vr = _make_item(line, u, rng.standard_normal(2), condition, cfg.start_date)
            rows.append(row)
            quality.append(q)
            vrank.append(vr)
            made += 1
        spill = n - made

    # Shuffle so item ids do not encode the category.
    perm = rng.permutation(len(rows))
    items = pd.DataFrame([rows[i] for i in perm])
    q_arr = np.asarray(quality, dtype=np.float64)[perm]
    vr_arr = np.asarray(vrank, dtype=np.float64)[perm]
    n_items = len(items)
    items.insert(0, ITEM_ID, _ids("i", n_items))

    start = cfg.start_date
    age = items.pop("_age").to_numpy(dtype=np.float64)
    release_day = np.array([(d - start).days for d in items[RELEASE_DATE]], dtype=np.float64)
    # Some items launch during the log: no events before their release day.
    is_new = rng.random(n_items) < cfg.new_item_share
    new_day = np.floor(rng.uniform(0.1, 0.9, n_items) * cfg.n_days)
    release_day = np.where(is_new, new_day, release_day)
    items[RELEASE_DATE] = [(start + dt.timedelta(days=int(d))).isoformat() for d in release_day]
    years_old = np.maximum(-release_day, 0.0) / 365.0
    p_out = np.minimum(0.6, cfg.out_of_stock_share * (0.5 + 0.75 * years_old))
    items[IN_STOCK] = ~(rng.random(n_items) < np.where(is_new, 0.0, p_out))
    items[IMAGE_COLOR] = [
        _image_color(c, b) for c, b in zip(items[CATEGORY], items[BRAND], strict=True)
    ]

    cat_index = {c: i for i, c in enumerate(cat_names)}
    brand_index = {b: i for i, b in enumerate(_BRANDS)}
    category = items[CATEGORY].map(cat_index).to_numpy(dtype=np.int64)
    brand = items[BRAND].map(brand_index).to_numpy(dtype=np.int64)
    brand_w = np.array([_BRANDS[b].weight for b in _BRANDS])[brand]
    log_price = np.log(items[PRICE].to_numpy(dtype=np.float64))
    log_pop = (
        cfg.popularity_sigma * rng.normal(size=n_items)
        + 0.5 * np.log(brand_w / 0.4)
        + 0.3 * q_arr
        - 0.35 * np.where(is_new, 0.0, age)
        - 0.15 * vr_arr
        + 0.5 * is_new
    )
    cat_items = [np.flatnonzero(category == c).astype(np.int64) for c in range(len(cat_names))]
    cat_log_median = np.array([np.median(log_price[ix]) for ix in cat_items])

    comp, n_comp = _complements(items, cfg.max_complements, log_pop, rng)
    ids = items[ITEM_ID].to_numpy(dtype=object)
    items[COMPLEMENTS] = [
        LIST_SEP.join(ids[comp[i, : n_comp[i]]]) if n_comp[i] else None for i in range(n_items)
    ]
    columns = [
        ITEM_ID, TITLE, BRAND, MODEL, CATEGORY, SUBCATEGORY, PRICE, DESCRIPTION, TITLE_ZH,
        DESCRIPTION_ZH, BRAND_ZH, CATEGORY_ZH, STORAGE_GB, RAM_GB, SCREEN_INCH, BATTERY_MAH,
        MEGAPIXELS, COLOR, FEATURES, RELEASE_DATE, CONDITION, IN_STOCK, IMAGE_COLOR, COMPLEMENTS,
        ACCESSORY_FOR,
    ]  # fmt: skip
    return _Catalogue(
        items=items[columns].reset_index(drop=True),
        category=category,
        brand=brand,
        log_price=log_price,
        log_pop=log_pop,
        quality=q_arr,
        release_day=release_day,
        complements=comp,
        n_complements=n_comp,
        cat_items=cat_items,
        cat_log_median=cat_log_median,
    )


def _complements(
    items: pd.DataFrame, k: int, log_pop: FloatArray, rng: np.random.Generator
) -> tuple[IntArray, IntArray]:
    """Up to ``k`` accessories that complement each main product, most specific first.

    An accessory fits a product of category ``c`` when ``c`` is in its ``accessory_for`` and:

    * it is made for that model (``_FITS_MODEL``: an iPhone 16 case fits iPhone 16 models
      only), if it is model-specific;
    * a device maker's accessory fits only that maker's devices (an Apple charger does not go
      with a Samsung phone) unless its line says ``fits="*"``; third-party accessories fit
      every brand, or the one brand named in ``fits``.

    Model-specific accessories come first, then the maker's own, then third-party ones (one
    slot is kept for those); each group in a popularity-weighted random order. One listing per
    product: the new, renewed and open-box listings of an accessory count once.

    The rule is evaluated once per (accessory type, product type) -- types repeat across
    colours, storage variants and conditions -- and the random order per product is a Gumbel
    key per candidate of which only each accessory's best listing matters, so a product costs a
    few array passes over its category's candidates instead of a Python loop over them.
    """
    n = len(items)
    comp = np.full((n, max(k, 1)), -1, dtype=np.int64)
    n_comp = np.zeros(n, dtype=np.int64)
    if k == 0:
        return comp[:, :0], n_comp
    lines = _parse_lines()
    fit_rules: dict[tuple[str, str], tuple[str, str]] = {}  # (brand, model) -> (brand, model)
    for li in lines[_ACCESSORIES]:
        for g in li.gens:
            model = li.template.replace("{g}", g)
            fit_rules[(li.brand, model)] = (li.fits, li.fits_model.replace("{g}", g))
    makers = {c: {li.brand for li in ls} for c, ls in lines.items() if c != _ACCESSORIES}

    cats = items[CATEGORY].to_numpy(dtype=object)
    subs = items[SUBCATEGORY].to_numpy(dtype=object)
    brands = items[BRAND].to_numpy(dtype=object)
    models = items[MODEL].to_numpy(dtype=object)
    acc_for = items[ACCESSORY_FOR].to_numpy(dtype=object)
    # Accessory types: (brand, model, subcategory) decides the fit; (brand, model) is the
    # "one listing per product" group.
    type_code: dict[tuple[str, str, str], int] = {}
    group_code: dict[tuple[str, str], int] = {}
    acc_type = np.full(n, -1, dtype=np.int64)
    acc_group = np.full(n, -1, dtype=np.int64)
    by_cat: dict[str, list[int]] = {}
    for a in np.flatnonzero(cats == _ACCESSORIES):
        acc_type[a] = type_code.setdefault((brands[a], models[a], subs[a]), len(type_code))
        acc_group[a] = group_code.setdefault((brands[a], models[a]), len(group_code))
        for c in _split(acc_for[a]):
            by_cat.setdefault(c, []).append(int(a))
    types = list(type_code)
    type_rule = [fit_rules[(b, m)] for b, m, _ in types]

    @dataclass
    class _Pool:
        items: IntArray
        types: IntArray
        by_group: IntArray  # positions in `items` ordered by group
        starts: IntArray  # first position of each group in `by_group`
        group_of: IntArray  # group of each entry of `by_group`

    pools: dict[str, _Pool] = {}
    for c, members in by_cat.items():
        pool = np.asarray(members, dtype=np.int64)
        by_group = np.argsort(acc_group[pool], kind="stable")
        sorted_groups = acc_group[pool][by_group]
        pools[c] = _Pool(
            pool,
            acc_type[pool],
            by_group,
            np.flatnonzero(_group_starts(sorted_groups)),
            sorted_groups,
        )

    classes: dict[tuple[str, str, str, str], IntArray] = {}

    def type_classes(cat: str, brand: str, model: str, sub: str) -> IntArray:
        """Per accessory type: -1 does not fit, 0 model-specific, 1 the maker's own, 2 third."""
        out = np.full(len(types), -1, dtype=np.int64)
        for t, ((a_brand, _, a_sub), (fits, fits_model)) in enumerate(
            zip(types, type_rule, strict=True)
        ):
            if fits_model:
                if not (model == fits_model or model.startswith(fits_model + " ")):
                    continue
            elif sub in _UNSUITED.get(a_sub, ()):
                continue
            if fits == "*" or fits == brand:
                ok = True
            elif fits:
                ok = False
            else:
                ok = a_brand == brand or a_brand not in makers[cat]
            if ok:
                out[t] = 0 if fits_model else 1 if a_brand == brand else 2
        return out

    for i in range(n):
        cat = str(cats[i])
        if cat == _ACCESSORIES or subs[i] in _NO_COMPLEMENTS or cat not in pools:
            continue
        p = pools[cat]
        key = (cat, str(brands[i]), str(models[i]), str(subs[i]))
        cls_t = classes.get(key)
        if cls_t is None:
            cls_t = classes[key] = type_classes(*key)
        # A popularity-weighted random order of the candidates, per product (Gumbel keys);
        # the draw covers every candidate so the random stream does not depend on the fit.
        keys = log_pop[p.items] + rng.gumbel(size=p.items.size)
        cls = cls_t[p.types]
        keys[cls < 0] = -np.inf
        # An accessory's place in the order is that of its best-ranked fitting listing.
        ks = keys[p.by_group]
        best = np.maximum.reduceat(ks, p.starts)
        hit = np.flatnonzero(
            (ks == np.repeat(best, np.diff(p.starts, append=ks.size))) & np.isfinite(ks)
        )
        _, first = np.unique(p.group_of[hit], return_index=True)
        win = p.by_group[hit[first]]  # positions in p.items of each fitting accessory's winner
        win = win[np.argsort(-keys[win], kind="stable")]
        win_cls = cls[win]
        exact = list(p.items[win[win_cls == 0]][:k])
        own = list(p.items[win[win_cls == 1]][:k])
        third = list(p.items[win[win_cls == 2]][:k])
        specific = exact + own
        chosen = (specific[: k - 1] + third[:1] + specific[k - 1 :] + third[1:])[:k]
        comp[i, : len(chosen)] = chosen
        n_comp[i] = len(chosen)
    return comp, n_comp


# --------------------------------------------------------------------------------------------
# Users
# --------------------------------------------------------------------------------------------

_AGE_BANDS = ("18-24", "25-34", "35-44", "45-54", "55+")
_AGE_P = (0.18, 0.32, 0.24, 0.15, 0.11)
_AGE_BUDGET = (-0.25, 0.0, 0.15, 0.1, 0.0)
# Mild age effects on category interest (log weight), in CATEGORIES order.
_AGE_INTEREST = {
    "18-24": {"Games": 0.5, "Headphones": 0.3, "Phones": 0.2, "TVs": -0.4, "Cameras": -0.2},
    "55+": {"Games": -0.6, "TVs": 0.4, "Tablets": 0.3, "Cameras": 0.2, "Headphones": -0.2},
}
_GENDERS = ("female", "male", "unspecified")
_GENDER_P = (0.46, 0.5, 0.04)
_CITY_TIERS = (1, 2, 3, 4)
_CITY_P = (0.25, 0.35, 0.25, 0.15)
_CITY_BUDGET = (0.25, 0.1, -0.05, -0.2)
# Share of an interest's sessions by its rank among the user's 1, 2 or 3 interests.
_RANK_CUM = {1: (1.0, 1.0, 1.0), 2: (0.65, 1.0, 1.0), 3: (0.55, 0.85, 1.0)}
_LATE_RANK_CUM = {1: (1.0, 1.0), 2: (0.65, 1.0)}


@dataclass
class _Users:
    frame: pd.DataFrame
    log_budget: FloatArray
    pref_cats: IntArray  # (n_users, 3), -1 padded, by priority
    n_pref: IntArray
    late_cats: IntArray  # (n_users, 2), -1 padded
    n_late: IntArray
    drift_day: FloatArray  # NaN when the user does not drift
    pref_brand: BoolArray  # (n_users, n_brands)
    loyalty: FloatArray
    n_sessions: IntArray

    def rows(self, lo: int, hi: int) -> _Users:
        """Users ``lo..hi-1`` (a block of the event log), renumbered from 0."""
        return _Users(
            frame=self.frame.iloc[lo:hi].reset_index(drop=True),
            log_budget=self.log_budget[lo:hi],
            pref_cats=self.pref_cats[lo:hi],
            n_pref=self.n_pref[lo:hi],
            late_cats=self.late_cats[lo:hi],
            n_late=self.n_late[lo:hi],
            drift_day=self.drift_day[lo:hi],
            pref_brand=self.pref_brand[lo:hi],
            loyalty=self.loyalty[lo:hi],
            n_sessions=self.n_sessions[lo:hi],
        )


def _top_k_gumbel(
    logits: FloatArray, k: IntArray, rng: np.random.Generator, width: int
) -> IntArray:
    """Per row, ``k[row]`` indices drawn without replacement with probability ~ exp(logits)."""
    keys = logits + rng.gumbel(size=logits.shape)
    order = np.argsort(-keys, axis=1, kind="stable")[:, :width].astype(np.int64)
    order[np.arange(width)[None, :] >= k[:, None]] = -1
    return order


def _build_users(cfg: SynthConfig, cat: _Catalogue, rng: np.random.Generator) -> _Users:
    n = cfg.n_users
    cat_names = list(CATEGORIES)
    n_cat = len(cat_names)
    brand_names = list(_BRANDS)

    age_i = rng.choice(len(_AGE_BANDS), size=n, p=_AGE_P)
    gender_i = rng.choice(len(_GENDERS), size=n, p=_GENDER_P)
    city_i = rng.choice(len(_CITY_TIERS), size=n, p=_CITY_P)
    log_budget = (
        np.log(cfg.budget_median)
        + cfg.budget_sigma * rng.normal(size=n)
        + np.asarray(_AGE_BUDGET)[age_i]
        + np.asarray(_CITY_BUDGET)[city_i]
    )
    budget = np.maximum(np.round(np.exp(log_budget)), 30.0)
    log_budget = np.log(budget)

    # Interests: popular categories more often; categories the user cannot afford less often.
    interest = np.log([CATEGORIES[c].interest for c in cat_names])
    age_adj = np.zeros((len(_AGE_BANDS), n_cat))
    for band, adj in _AGE_INTEREST.items():
        for name, v in adj.items():
            age_adj[_AGE_BANDS.index(band), cat_names.index(name)] = v
    afford = np.minimum(0.0, log_budget[:, None] - cat.cat_log_median[None, :])
    logits = interest[None, :] + age_adj[age_i] + 0.8 * np.maximum(afford, -2.5)
    n_pref = rng.choice([1, 2, 3], size=n, p=[0.35, 0.4, 0.25]).astype(np.int64)
    pref_cats = _top_k_gumbel(logits, n_pref, rng, 3)

    # Drift: 1-2 new categories (not among the current interests) from a random day on.
    drifts = rng.random(n) < cfg.drift_probability
    drift_day = np.where(drifts, np.round(rng.uniform(0.25, 0.75, n) * cfg.n_days, 2), np.nan)
    late_logits = logits.copy()
    rows = np.repeat(np.arange(n), 3)
    cols = pref_cats.ravel()
    keep = cols >= 0
    late_logits[rows[keep], cols[keep]] = -np.inf
    n_late = np.where(drifts, rng.choice([1, 2], size=n, p=[0.6, 0.4]), 0).astype(np.int64)
    late_cats = _top_k_gumbel(late_logits, n_late, rng, 2)

    # Preferred brands: one per interest (two for the main one, sometimes), chosen by market
    # weight and by how the brand's price tier suits the budget.
    tier = np.array([_BRANDS[b].tier for b in brand_names], dtype=np.float64)
    wealth = np.clip(log_budget - np.log(cfg.budget_median), -1.5, 1.5)
    pref_brand = np.zeros((n, len(brand_names)), dtype=bool)
    brand_order: list[list[int]] = [[] for _ in range(n)]
    second = rng.random(n) < 0.25
    for rank in range(3):
        for c in range(n_cat):
            users = np.flatnonzero(pref_cats[:, rank] == c)
            if users.size == 0:
                continue
            present = np.unique(cat.brand[cat.cat_items[c]])
            share = np.array([_BRANDS[brand_names[b]].weight for b in present])
            lg = (
                np.log(share)[None, :]
                + 0.8 * (tier[present][None, :] - 2.0) * wealth[users][:, None]
                + rng.gumbel(size=(users.size, present.size))
            )
            order = np.argsort(-lg, axis=1, kind="stable")
            picks = [order[:, 0]]
            if rank == 0 and present.size > 1:
                picks.append(np.where(second[users], order[:, 1], -1))
            for pick in picks:
                for u, b in zip(users, pick, strict=True):
                    if b >= 0 and not pref_brand[u, present[b]]:
                        pref_brand[u, present[b]] = True
                        brand_order[u].append(int(present[b]))

    m = cfg.brand_loyalty
    kappa = 6.0  # Beta concentration: users differ in loyalty around the mean
    loyalty = rng.beta(m * kappa, (1 - m) * kappa, size=n) if 0.0 < m < 1.0 else np.full(n, m)
    loyalty = np.round(loyalty, 3)

    shape = cfg.activity_shape
    activity = rng.gamma(shape, (cfg.mean_sessions_per_user - 1.0) / shape, size=n)
    n_sessions = 1 + rng.poisson(activity)

    def names(idx: IntArray, count: int) -> str:
        return LIST_SEP.join(cat_names[j] for j in idx[:count])

    frame = pd.DataFrame(
        {
            USER_ID: _ids("u", n),
            AGE_BAND: np.asarray(_AGE_BANDS, dtype=object)[age_i],
            GENDER: np.asarray(_GENDERS, dtype=object)[gender_i],
            CITY_TIER: np.asarray(_CITY_TIERS, dtype=np.int64)[city_i],
            BUDGET: budget,
            PREFERRED_BRANDS: [LIST_SEP.join(brand_names[b] for b in bo) for bo in brand_order],
            PREFERRED_CATEGORIES: [names(pref_cats[u], int(n_pref[u])) for u in range(n)],
            BRAND_LOYALTY: loyalty,
            ACTIVITY: np.round(activity + 1.0, 3),
            DRIFT_DAY: drift_day,
            LATE_CATEGORIES: [
                names(late_cats[u], int(n_late[u])) if n_late[u] else None for u in range(n)
            ],
        }
    )
    return _Users(
        frame=frame,
        log_budget=log_budget,
        pref_cats=pref_cats,
        n_pref=n_pref,
        late_cats=late_cats,
        n_late=n_late,
        drift_day=drift_day,
        pref_brand=pref_brand,
        loyalty=loyalty,
        n_sessions=n_sessions.astype(np.int64),
    )


# --------------------------------------------------------------------------------------------
# Sessions and events
# --------------------------------------------------------------------------------------------

# Relative traffic per hour of day (UTC stands in for local time): lunch and evening peaks.
_HOUR_WEIGHTS = (
    1.0, 0.6, 0.4, 0.3, 0.3, 0.4, 0.8, 1.5, 2.2, 2.6, 2.8, 3.0,
    3.4, 3.2, 2.9, 2.8, 2.9, 3.1, 3.6, 4.3, 4.8, 4.6, 3.6, 2.2,
)  # fmt: skip
_CELLS_PER_CHUNK = 2_000_000  # bounds the sessions x items logit matrix of one category
#: Categories up to this many items sample views exactly (sessions x items keys); larger ones
#: (catalogues of tens of thousands of items) from per-session candidates.
_EXACT_POOL = 2048
_CANDIDATES = 256  # candidates per session in a large category


def _pick_ranked(
    rng: np.random.Generator,
    table: IntArray,
    counts: IntArray,
    cum: Mapping[int, tuple[float, ...]],
) -> IntArray:
    """Pick one entry per row of ``table`` (priority order) with rank weights from ``cum``."""
    r = rng.random(len(table))
    width = table.shape[1]
    thresholds = np.zeros((len(table), width))
    for count, c in cum.items():
        rows = counts == count
        thresholds[rows] = np.asarray(c[:width])
    rank = (r[:, None] >= thresholds).sum(axis=1)
    rank = np.minimum(rank, np.maximum(counts - 1, 0))
    return np.asarray(table[np.arange(len(table)), rank], dtype=np.int64)


def _group_starts(group: IntArray) -> BoolArray:
    first = np.ones(len(group), dtype=bool)
    first[1:] = group[1:] != group[:-1]
    return first


def _exclusive_cumsum(values: IntArray, group: IntArray) -> IntArray:
    """Per contiguous group, the sum of the values before each row."""
    cs = np.cumsum(values)
    excl = cs - values
    first = _group_starts(group)
    base = excl[first][np.cumsum(first) - 1]
    return np.asarray(excl - base, dtype=np.int64)


def _sample_views(
    cfg: SynthConfig,
    cat: _Catalogue,
    users: _Users,
    sess_user: IntArray,
    sess_cat: IntArray,
    sess_day: FloatArray,
    sess_loyal: BoolArray,
    n_views: IntArray,
    rng: np.random.Generator,
) -> tuple[IntArray, IntArray]:
    """Items viewed per session, in view order: (session index, item index) per view.

    For each category the sessions x items log-weights are popularity + price fit (near the
    user's price level, penalised above the budget); items not yet released are excluded and
    a loyal session only sees the user's preferred brands (when the category has any). Views
    are the Gumbel top-``n_views`` of those weights: sampling without replacement.

    That costs sessions x items per category, so categories of more than ``_EXACT_POOL`` items
    (large catalogues) sample from per-session candidates instead (:func:`_sample_large_pool`).
    """
    out_sess: list[IntArray] = []
    out_pos: list[IntArray] = []
    out_item: list[IntArray] = []
    # float32 halves the memory traffic of the big matrices; precision is irrelevant here.
    f32 = np.float32
    log_budget = users.log_budget.astype(f32)
    log_target = (log_budget - f32(np.log(cfg.budget_median)))[:, None] + cat.cat_log_median.astype(
        f32
    )
    penalty, sensitivity = f32(cfg.over_budget_penalty), f32(cfg.price_sensitivity)
    for c, pool in enumerate(cat.cat_items):
        sessions = np.flatnonzero(sess_cat == c)
        if sessions.size == 0 or pool.size == 0:
            continue
        n_pool = pool.size
        if n_pool > _EXACT_POOL:
            _sample_large_pool(
                cfg, cat, users, pool, sessions, sess_user, sess_day, sess_loyal, n_views, rng,
                (out_sess, out_pos, out_item),
            )  # fmt: skip
            continue
        base = cat.log_pop[pool].astype(f32)
        lprice = cat.log_price[pool].astype(f32)
        pool_brand = cat.brand[pool]
        rel = cat.release_day[pool]
        chunk = max(1, _CELLS_PER_CHUNK // n_pool)
        for s0 in range(0, sessions.size, chunk):
            s = sessions[s0 : s0 + chunk]
            u = sess_user[s]
            over = np.maximum(lprice[None, :] - log_budget[u][:, None], f32(0.0))
            fit = np.abs(lprice[None, :] - log_target[u, c][:, None])
            keys = base[None, :] - penalty * over - sensitivity * fit
            # Gumbel noise (-log of a standard exponential) turns top-k into sampling.
            expo = rng.standard_exponential(size=keys.shape, dtype=f32)
            keys -= np.log(np.maximum(expo, f32(1e-30), out=expo), out=expo)
            avail = rel[None, :] <= sess_day[s][:, None]
            pref = users.pref_brand[u][:, pool_brand]
            restrict = sess_loyal[s] & (pref & avail).any(axis=1)
            keys[~(avail & (pref | ~restrict[:, None]))] = -np.inf
            k = min(int(n_views[s].max()), n_pool)
            top = np.argpartition(-keys, k - 1, axis=1)[:, :k]
            top_keys = np.take_along_axis(keys, top, axis=1)
            order = np.argsort(-top_keys, axis=1, kind="stable")
            top = np.take_along_axis(top, order, axis=1)
            top_keys = np.take_along_axis(top_keys, order, axis=1)
            valid = np.isfinite(top_keys) & (np.arange(k)[None, :] < n_views[s][:, None])
            rr, cc = np.nonzero(valid)
            out_sess.append(s[rr])
            out_pos.append(cc.astype(np.int64))
            out_item.append(pool[top[rr, cc]])
    if not out_sess:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    sess = np.concatenate(out_sess)
    pos = np.concatenate(out_pos)
    item = np.concatenate(out_item)
    order = np.lexsort((pos, sess))
    return sess[order], item[order]


def _sample_large_pool(
    cfg: SynthConfig,
    cat: _Catalogue,
    users: _Users,
    pool: IntArray,
    sessions: IntArray,
    sess_user: IntArray,
    sess_day: FloatArray,
    sess_loyal: BoolArray,
    n_views: IntArray,
    rng: np.random.Generator,
    out: tuple[list[IntArray], list[IntArray], list[IntArray]],
) -> None:
    """Views of one large category by sampling-importance-resampling, appended to ``out``.

    Each session draws ``_CANDIDATES`` candidates in proportion to item attractiveness (from
    the user's preferred brands only, for a loyal session whose user has any in the category),
    then keeps the Gumbel top-``n_views`` of the price-fit log-weights -- the target weight
    divided by the proposal's -- among the distinct, released candidates. As the candidate
    count grows this tends to the exact sampler of :func:`_sample_views`; at 256 candidates
    it keeps the planted budget, brand and popularity structure at a cost linear in sessions.
    The loyalty test ignores release days (the exact sampler falls back to every brand when
    none of the preferred ones has a released item); unreleased candidates are dropped.
    """
    out_sess, out_pos, out_item = out
    f32 = np.float32
    n_c = _CANDIDATES
    # Brand-sorted pool: a brand is a contiguous segment of the cumulative attractiveness.
    order = np.argsort(cat.brand[pool], kind="stable")
    pool = pool[order]
    pool_brand = cat.brand[pool]
    present, seg_start = np.unique(pool_brand, return_index=True)
    seg_end = np.append(seg_start[1:], pool.size)
    weight = np.exp(cat.log_pop[pool] - cat.log_pop[pool].max())
    cum = np.cumsum(weight)
    cum_before = cum - weight
    seg_lo = cum_before[seg_start]
    seg_mass = cum[seg_end - 1] - seg_lo
    lprice = cat.log_price[pool].astype(f32)
    rel = cat.release_day[pool]
    log_budget = users.log_budget.astype(f32)
    shift = f32(np.log(cfg.budget_median))
    c_median = f32(cat.cat_log_median[cat.category[pool[0]]])
    penalty, sensitivity = f32(cfg.over_budget_penalty), f32(cfg.price_sensitivity)
    n_b = present.size
    chunk = max(1, _CELLS_PER_CHUNK // n_c)
    for s0 in range(0, sessions.size, chunk):
        s = sessions[s0 : s0 + chunk]
        m = s.size
        u = sess_user[s]
        pref = users.pref_brand[u][:, present]
        restrict = sess_loyal[s] & pref.any(axis=1)
        mass = np.where(pref | ~restrict[:, None], seg_mass[None, :], 0.0)
        row_cum = np.cumsum(mass, axis=1)
        total = row_cum[:, -1]
        v = rng.random((m, n_c)) * total[:, None]
        # Which brand segment: one searchsorted over all rows, each row lifted above the last.
        lift = (np.arange(m, dtype=np.float64) * (float(cum[-1]) + 1.0))[:, None]
        flat = (row_cum + lift).ravel()
        b = np.searchsorted(flat, (v + lift).ravel(), side="right").reshape(m, n_c)
        b = np.minimum(b - (np.arange(m) * n_b)[:, None], n_b - 1)
        row_before = np.take_along_axis(row_cum - mass, b, axis=1)
        target = seg_lo[b] + (v - row_before)
        pos = np.searchsorted(cum, target, side="right")
        pos = np.clip(pos, seg_start[b], seg_end[b] - 1)
        over = np.maximum(lprice[pos] - log_budget[u][:, None], f32(0.0))
        log_target = log_budget[u] - shift + c_median
        fit = np.abs(lprice[pos] - log_target[:, None])
        keys = -penalty * over - sensitivity * fit
        expo = rng.standard_exponential(size=keys.shape, dtype=f32)
        keys -= np.log(np.maximum(expo, f32(1e-30), out=expo), out=expo)
        keys[rel[pos] > sess_day[s][:, None]] = -np.inf
        # A candidate drawn twice is one item: keep its first copy in sorted order.
        by_pos = np.argsort(pos, axis=1, kind="stable")
        sorted_pos = np.take_along_axis(pos, by_pos, axis=1)
        dup = np.zeros(pos.shape, dtype=bool)
        dup[:, 1:] = sorted_pos[:, 1:] == sorted_pos[:, :-1]
        np.put_along_axis(
            keys, by_pos, np.where(dup, -np.inf, np.take_along_axis(keys, by_pos, axis=1)), axis=1
        )
        k = min(int(n_views[s].max()), n_c)
        top = np.argpartition(-keys, k - 1, axis=1)[:, :k]
        top_keys = np.take_along_axis(keys, top, axis=1)
        rank = np.argsort(-top_keys, axis=1, kind="stable")
        top = np.take_along_axis(top, rank, axis=1)
        top_keys = np.take_along_axis(top_keys, rank, axis=1)
        valid = np.isfinite(top_keys) & (np.arange(k)[None, :] < n_views[s][:, None])
        rr, cc = np.nonzero(valid)
        out_sess.append(s[rr])
        out_pos.append(cc.astype(np.int64))
        out_item.append(pool[pos[rr, top[rr, cc]]])


@dataclass
class _ViewBlock:
    """Views of one kind (regular or complement follow-up) and their funnel outcomes."""

    sess: IntArray
    item: IntArray
    t_view: IntArray
    t_click: IntArray
    t_cart: IntArray
    click: BoolArray
    cart: BoolArray
    buy: BoolArray
    t_buy: IntArray
    t_end: IntArray  # end of each view's dwell slot
    fit: FloatArray


def _time_views(
    sess: IntArray, start: IntArray, rng: np.random.Generator
) -> tuple[IntArray, IntArray, IntArray, IntArray]:
    """View/click/cart offsets for views grouped by session, and each session's browse end.

    Each view occupies a dwell slot; its click and cart (if any) fall inside that slot so the
    next view is always later.
    """
    dwell = (15 + np.ceil(rng.exponential(45.0, size=len(sess)))).astype(np.int64)
    t_view = start[sess] + _exclusive_cumsum(dwell, sess)
    t_click = t_view + np.maximum(1, dwell // 4)
    t_cart = t_view + np.maximum(2, (dwell * 3) // 5)
    end = t_view + dwell
    return t_view, t_click, t_cart, end


def _funnel(
    cfg: SynthConfig,
    fit: FloatArray,
    within: BoolArray,
    pref: BoolArray,
    boost: float,
    rng: np.random.Generator,
) -> tuple[BoolArray, BoolArray, BoolArray]:
    n = len(fit)
    p_click = np.minimum(0.95, boost * _sigmoid(_logit(cfg.click_probability) + fit))
    p_cart = np.minimum(0.95, boost * _sigmoid(_logit(cfg.cart_probability) + fit))
    p_buy = (
        cfg.purchase_probability
        * np.where(within, 1.0, cfg.over_budget_purchase_factor)
        * np.where(pref, 1.3, 1.0)
    )
    p_buy = np.minimum(0.95, boost * p_buy)
    click = rng.random(n) < p_click
    cart = click & (rng.random(n) < p_cart)
    buy = cart & (rng.random(n) < p_buy)
    return click, cart, buy


def _simulate(
    cfg: SynthConfig, cat: _Catalogue, users: _Users, rng: np.random.Generator
) -> pd.DataFrame:
    n_sess = int(users.n_sessions.sum())
    sess_user = np.repeat(np.arange(len(users.n_sessions), dtype=np.int64), users.n_sessions)
    day = rng.integers(0, cfg.n_days, size=n_sess)
    hour_w = np.asarray(_HOUR_WEIGHTS)
    hour = rng.choice(24, size=n_sess, p=hour_w / hour_w.sum())
    start = day * _SECONDS_PER_DAY + hour * 3600 + rng.integers(0, 3600, size=n_sess)
    order = np.lexsort((start, sess_user))  # sessions ordered by user, then time
    start = start[order].astype(np.int64)
    sess_day = start / _SECONDS_PER_DAY

    # Session category: an interest (late interests after the drift day), or exploration.
    u = sess_user
    interest = _pick_ranked(rng, users.pref_cats[u], users.n_pref[u], _RANK_CUM)
    late_pick = _pick_ranked(
        rng, users.late_cats[u], np.maximum(users.n_late[u], 1), _LATE_RANK_CUM
    )
    is_late = (
        (users.n_late[u] > 0)
        & (sess_day >= np.nan_to_num(users.drift_day[u], nan=np.inf))
        & (rng.random(n_sess) < cfg.drift_strength)
    )
    cat_w = np.array([c.interest for c in CATEGORIES.values()])
    explore_cat = rng.choice(len(cat_w), size=n_sess, p=cat_w / cat_w.sum())
    explore = rng.random(n_sess) < cfg.explore_probability
    sess_cat = np.where(explore, explore_cat, np.where(is_late, late_pick, interest))
    sess_loyal = rng.random(n_sess) < users.loyalty[u]
    n_views = np.minimum(
        1 + rng.poisson(cfg.mean_views_per_session - 1.0, size=n_sess), cfg.max_views_per_session
    )

    v_sess, v_item = _sample_views(
        cfg, cat, users, sess_user, sess_cat, sess_day, sess_loyal, n_views, rng
    )
    main = _view_block(cfg, cat, users, sess_user, v_sess, v_item, start, 1.0, rng)
    # At most max_purchases_per_session purchases per session: the best-fitting ones.
    buy_rows = np.flatnonzero(main.buy)
    score = main.fit[buy_rows] + 0.1 * rng.normal(size=buy_rows.size)
    by = np.lexsort((-score, main.sess[buy_rows]))
    ranked = buy_rows[by]
    rank = _exclusive_cumsum(np.ones(ranked.size, dtype=np.int64), main.sess[ranked])
    main.buy[ranked[rank >= cfg.max_purchases_per_session]] = False

    # Checkout after browsing; purchases one second apart.
    browse_end = start.copy()
    np.maximum.at(browse_end, main.sess, main.t_end)
    checkout = browse_end + 30 + np.ceil(rng.exponential(90.0, size=n_sess)).astype(np.int64)
    buy_rows = np.flatnonzero(main.buy)
    j = _exclusive_cumsum(np.ones(buy_rows.size, dtype=np.int64), main.sess[buy_rows])
    main.t_buy[buy_rows] = checkout[main.sess[buy_rows]] + j
    n_buys = np.bincount(main.sess[buy_rows], minlength=n_sess)

    # Complements: after buying a main product the user often browses its accessories.
    first_buy = buy_rows[j == 0]
    bought = main.item[first_buy]
    has_comp = cat.n_complements[bought] > 0
    follow = has_comp & (rng.random(first_buy.size) < cfg.complement_probability)
    f_sess = main.sess[first_buy][follow]
    f_item = bought[follow]
    blocks = [main]
    if f_sess.size:
        comp = cat.complements[f_item]
        # Complements in a random order; those not yet released cannot be browsed.
        released = cat.release_day[comp] <= sess_day[f_sess][:, None]
        usable = (comp >= 0) & released
        keys = np.where(usable, rng.gumbel(size=comp.shape), -np.inf)
        comp_order = np.take_along_axis(comp, np.argsort(-keys, axis=1, kind="stable"), axis=1)
        n_f = np.minimum(1 + rng.poisson(1.0, size=f_sess.size), usable.sum(axis=1))
        rr, cc = np.nonzero(np.arange(comp.shape[1])[None, :] < n_f[:, None])
        fv_sess = f_sess[rr]
        fv_item = comp_order[rr, cc]
        f_start = np.zeros(n_sess, dtype=np.int64)
        f_start[f_sess] = (
            checkout[f_sess]
            + n_buys[f_sess]
            + 10
            + np.ceil(rng.exponential(30.0, size=f_sess.size)).astype(np.int64)
        )
        extra = _view_block(
            cfg, cat, users, sess_user, fv_sess, fv_item, f_start, cfg.complement_boost, rng
        )
        f_end = f_start.copy()
        np.maximum.at(f_end, fv_sess, extra.t_end)
        f_checkout = f_end + 20 + np.ceil(rng.exponential(60.0, size=n_sess)).astype(np.int64)
        fb = np.flatnonzero(extra.buy)
        jf = _exclusive_cumsum(np.ones(fb.size, dtype=np.int64), extra.sess[fb])
        extra.t_buy[fb] = f_checkout[extra.sess[fb]] + jf
        blocks.append(extra)

    return _events_frame(cfg, cat, users, sess_user, blocks, rng)


def _view_block(
    cfg: SynthConfig,
    cat: _Catalogue,
    users: _Users,
    sess_user: IntArray,
    sess: IntArray,
    item: IntArray,
    start: IntArray,
    boost: float,
    rng: np.random.Generator,
) -> _ViewBlock:
    u = sess_user[sess]
    pref = users.pref_brand[u, cat.brand[item]]
    within = cat.log_price[item] <= users.log_budget[u] + 1e-9
    fit = 0.5 * pref + 0.5 * within + 0.3 * cat.quality[item] - 0.5
    click, cart, buy = _funnel(cfg, fit, within, pref, boost, rng)
    t_view, t_click, t_cart, t_end = _time_views(sess, start, rng)
    return _ViewBlock(
        sess=sess,
        item=item,
        t_view=t_view,
        t_click=t_click,
        t_cart=t_cart,
        click=click,
        cart=cart,
        buy=buy,
        t_buy=np.zeros(len(sess), dtype=np.int64),
        t_end=t_end,
        fit=fit,
    )


def _events_frame(
    cfg: SynthConfig,
    cat: _Catalogue,
    users: _Users,
    sess_user: IntArray,
    blocks: list[_ViewBlock],
    rng: np.random.Generator,
) -> pd.DataFrame:
    parts_sess: list[IntArray] = []
    parts_item: list[IntArray] = []
    parts_t: list[IntArray] = []
    parts_ev: list[IntArray] = []
    parts_fit: list[FloatArray] = []
    for b in blocks:
        for code, mask, t in (
            (0, np.ones(len(b.sess), dtype=bool), b.t_view),
            (1, b.click, b.t_click),
            (2, b.cart, b.t_cart),
            (3, b.buy, b.t_buy),
        ):
            parts_sess.append(b.sess[mask])
            parts_item.append(b.item[mask])
            parts_t.append(t[mask])
            parts_ev.append(np.full(int(mask.sum()), code, dtype=np.int64))
            parts_fit.append(b.fit[mask])
    sess = np.concatenate(parts_sess)
    item = np.concatenate(parts_item)
    t = np.concatenate(parts_t)
    ev = np.concatenate(parts_ev)
    fit = np.concatenate(parts_fit)

    # Per user chronological: sessions are numbered by (user, start), events by time inside.
    order = np.lexsort((ev, t, sess))
    sess, item, t, ev, fit = sess[order], item[order], t[order], ev[order], fit[order]
    user = sess_user[sess]
    # Overlapping sessions of one user are pushed later so timestamps strictly increase per
    # user: t'_i = i + cummax_{j<=i}(t_j - j) within each user (a per-group running max made
    # global by offsetting each user's values above the previous user's).
    pos = _exclusive_cumsum(np.ones(len(user), dtype=np.int64), user)
    shifted = t - pos
    offset = 4 * (int(np.abs(shifted).max(initial=0)) + 1)
    t = np.maximum.accumulate(shifted + user * offset) - user * offset + pos

    # A share of purchases is rated; the rating follows how well the item fits the user.
    rating = np.full(len(ev), np.nan)
    rated = (ev == 3) & (rng.random(len(ev)) < cfg.rating_probability)
    stars = 3.5 + 1.2 * fit[rated] + rng.normal(0.0, 0.8, size=int(rated.sum()))
    rating[rated] = np.clip(np.round(stars), 1, 5)

    # Emit rows in global time order (ties: user, then per-user order) as an event log would.
    emit = np.lexsort((pos, user, t))
    start_ts = dt.datetime.combine(cfg.start_date, dt.time(0), tzinfo=dt.UTC).timestamp()
    user_ids = users.frame[USER_ID].to_numpy(dtype=object)
    item_ids = cat.items[ITEM_ID].to_numpy(dtype=object)
    return pd.DataFrame(
        {
            USER_ID: user_ids[user[emit]],
            ITEM_ID: item_ids[item[emit]],
            TIMESTAMP: start_ts + t[emit].astype(np.float64),
            EVENT: np.asarray(EVENT_TYPES, dtype=object)[ev[emit]],
            RATING: rating[emit],
            SOURCE_ROW: np.arange(len(emit), dtype=np.int64),
        }
    )


# --------------------------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------------------------


def generate_shop(config: SynthConfig | None = None, *, n_events: int | None = None) -> RawData:
    """Generate the synthetic electronics shop.

    Parameters
    ----------
    config:
        Generation parameters; ``None`` uses the defaults of :class:`SynthConfig`.
    n_events:
        Target number of events. ``None`` (default) lets ``mean_sessions_per_user`` decide;
        otherwise that field is set from a pilot run so the log has about ``n_events`` rows
        (see :func:`calibrate_sessions`) and ``extras["config"]`` records the value used.

    Returns
    -------
    RawData
        ``name="synthetic-shop"``. ``interactions`` has ``user_id``, ``item_id``,
        ``timestamp`` (float seconds since the epoch, from ``config.start_date``), ``event``
        (view/click/cart/purchase), ``rating`` (NaN except on a share of purchases) and
        ``source_row`` (0..n-1, the emission order: global time order within each block of
        ``USERS_PER_CHUNK`` users -- the whole log for shops up to that size -- so
        chronological per user with strictly increasing timestamps). ``items`` holds the
        catalogue (English and Chinese text, specs, ``complements`` as ``|``-joined item ids)
        and ``users`` the user attributes including the planted ``budget``,
        ``preferred_brands``, ``preferred_categories``, ``brand_loyalty``, ``drift_day`` and
        ``late_categories``. ``extras["config"]`` is the configuration used.

    Notes
    -----
    The catalogue, the users and the event log are drawn from independent streams spawned
    from ``random_state``, so changing ``n_users`` leaves the catalogue unchanged. The log of
    each block of users has its own stream, so a shop of millions of users is generated (and,
    by :func:`write_synthetic_shop`, written) block by block in bounded memory.
    """
    plan = _plan(config if config is not None else SynthConfig(), n_events)
    frames = list(_iter_interactions(plan))
    interactions = frames[0] if len(frames) == 1 else pd.concat(frames, ignore_index=True)
    cfg = plan.config
    report = LoadReport(
        n_rows_read=len(interactions),
        notes=[
            f"synthetic shop: {cfg.n_users} users, {len(plan.catalogue.items)} items, "
            f"{len(interactions)} events over {cfg.n_days} days (random_state={cfg.random_state})"
        ],
    )
    return RawData(
        name=SHOP_NAME,
        interactions=interactions,
        items=plan.catalogue.items,
        users=plan.users.frame,
        report=report,
        extras={"config": cfg.model_dump(mode="json")},
    )


#: Users simulated (and written) per block of the event log: bounds the generator's memory.
USERS_PER_CHUNK = 100_000
_PILOT_USERS = 5_000  # users of the pilot run that calibrates sessions to a target event count


@dataclass
class _Plan:
    config: SynthConfig
    catalogue: _Catalogue
    users: _Users
    sim_seed: np.random.SeedSequence


def _plan(config: SynthConfig, n_events: int | None) -> _Plan:
    """Catalogue and users (the parts every block of the log needs), sessions calibrated."""
    streams = np.random.SeedSequence(config.random_state).spawn(3)
    cat_rng, user_rng = (np.random.default_rng(s) for s in streams[:2])
    catalogue = _build_catalogue(config, cat_rng)
    if n_events is not None:
        config = _calibrate(config, catalogue, n_events)
    users = _build_users(config, catalogue, user_rng)
    return _Plan(config, catalogue, users, streams[2])


def _events_per_session(config: SynthConfig, catalogue: _Catalogue) -> float:
    """Mean events per session of ``config`` on ``catalogue``, from a pilot run of its own."""
    # A fourth stream, apart from the three of the shop itself.
    pilot_seed = np.random.SeedSequence(config.random_state).spawn(4)[3]
    user_rng, sim_rng = (np.random.default_rng(s) for s in pilot_seed.spawn(2))
    pilot = config.model_copy(update={"n_users": min(config.n_users, _PILOT_USERS)})
    users = _build_users(pilot, catalogue, user_rng)
    events = _simulate(pilot, catalogue, users, sim_rng)
    return len(events) / float(users.n_sessions.sum())


def _calibrate(config: SynthConfig, catalogue: _Catalogue, n_events: int) -> SynthConfig:
    per_session = _events_per_session(config, catalogue)
    mean = n_events / (config.n_users * per_session)
    if mean < 1.0:
        least = math.ceil(config.n_users * per_session)
        raise ConfigError(
            f"n_events={n_events} is too few for {config.n_users} users: every user has at "
            f"least one session (~{per_session:.1f} events), so expect at least ~{least} "
            "events; raise n_events or lower n_users"
        )
    return config.model_copy(update={"mean_sessions_per_user": round(mean, 4)})


def calibrate_sessions(config: SynthConfig, n_events: int) -> SynthConfig:
    """``config`` with ``mean_sessions_per_user`` set so the log has about ``n_events`` events.

    Events per session (views, the click/cart/purchase funnel, complement follow-ups) are
    measured on a pilot of up to 5,000 users drawn from a stream of their own, on the shop's
    catalogue; the count of the real log then lands within a few percent of ``n_events``.

    Raises
    ------
    ConfigError
        ``n_events`` is below what one session per user already makes.
    """
    streams = np.random.SeedSequence(config.random_state).spawn(3)
    catalogue = _build_catalogue(config, np.random.default_rng(streams[0]))
    return _calibrate(config, catalogue, n_events)


def _iter_interactions(plan: _Plan) -> Iterator[pd.DataFrame]:
    """The event log block by block of ``USERS_PER_CHUNK`` users, ``source_row`` running on.

    The first block draws from the simulation stream itself (so a shop of one block is what
    it always was), later blocks from streams spawned from it.
    """
    n_users = plan.config.n_users
    n_blocks = max(1, math.ceil(n_users / USERS_PER_CHUNK))
    seeds = [plan.sim_seed, *plan.sim_seed.spawn(n_blocks - 1)]
    row0 = 0
    for block, seed in enumerate(seeds):
        lo, hi = block * USERS_PER_CHUNK, min(n_users, (block + 1) * USERS_PER_CHUNK)
        users = plan.users if n_blocks == 1 else plan.users.rows(lo, hi)
        frame = _simulate(plan.config, plan.catalogue, users, np.random.default_rng(seed))
        if row0:
            frame[SOURCE_ROW] += row0
        row0 += len(frame)
        yield frame


_WRITE_FORMATS = ("csv", "parquet", "jsonl")
WriteFormat = Literal["csv", "parquet", "jsonl"]


class _TableWriter:
    """Writes one table in ``fmt`` from one or more frames of the same columns."""

    def __init__(self, path: Path, fmt: WriteFormat) -> None:
        self.path = path
        self.fmt = fmt
        self._parquet: pq.ParquetWriter | None = None
        self._schema: pa.Schema | None = None
        self._started = False

    def write(self, frame: pd.DataFrame) -> None:
        if self.fmt == "parquet":
            import pyarrow as pa
            import pyarrow.parquet as pq

            table = pa.Table.from_pandas(frame, preserve_index=False, schema=self._schema)
            if self._parquet is None:
                self._schema = table.schema
                self._parquet = pq.ParquetWriter(self.path, table.schema)
            self._parquet.write_table(table)
        elif self.fmt == "csv":
            frame.to_csv(
                self.path, index=False, encoding="utf-8", mode="a" if self._started else "w",
                header=not self._started,
            )  # fmt: skip
        else:
            with self.path.open("a" if self._started else "w", encoding="utf-8") as fh:
                # double_precision=15 keeps prices and timestamps exact.
                text = frame.to_json(
                    orient="records", lines=True, force_ascii=False, double_precision=15
                )
                fh.write(text if text.endswith("\n") or not text else text + "\n")
        self._started = True

    def close(self) -> None:
        if self._parquet is not None:
            self._parquet.close()
        elif not self._started and self.fmt == "parquet":
            raise ConfigError(f"nothing written to {self.path}")


def _check_format(fmt: str) -> None:
    if fmt not in _WRITE_FORMATS:
        raise ConfigError(f"unknown format {fmt!r}; expected one of: csv, parquet, jsonl")


def write_shop(data: RawData, out_dir: str | Path, fmt: WriteFormat = "csv") -> dict[str, Path]:
    """Write a shop in digirec's generic format: ``interactions``, ``items``, ``users`` files.

    ``source_row`` is not written: it is the row order of the interactions file, which loaders
    recreate on reading. Text is UTF-8; list-valued cells stay ``|``-joined strings.

    Parameters
    ----------
    data:
        Usually the output of :func:`generate_shop`; frames that are ``None`` are skipped.
    out_dir:
        Target folder, created if missing; existing files of the same names are replaced.
    fmt:
        ``"csv"``, ``"parquet"`` or ``"jsonl"`` (one JSON object per line).

    Returns
    -------
    dict[str, Path]
        Table name (``"interactions"``, ``"items"``, ``"users"``) -> written file.

    Raises
    ------
    ConfigError
        Unknown ``fmt``.
    """
    _check_format(fmt)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tables = {
        "interactions": data.interactions.drop(columns=[SOURCE_ROW], errors="ignore"),
        "items": data.items,
        "users": data.users,
    }
    written: dict[str, Path] = {}
    for name, frame in tables.items():
        if frame is None:
            continue
        path = out / f"{name}.{fmt}"
        if fmt == "parquet":
            frame.to_parquet(path, index=False)
        else:
            writer = _TableWriter(path, fmt)
            writer.write(frame)
            writer.close()
        written[name] = path
    return written


@dataclass(frozen=True)
class WrittenShop:
    """What :func:`write_synthetic_shop` wrote."""

    paths: dict[str, Path]  # table name -> file
    config: SynthConfig  # the configuration used (sessions calibrated to n_events)
    n_events: int  # rows of the interactions file
    n_items: int


def write_synthetic_shop(
    config: SynthConfig,
    out_dir: str | Path,
    fmt: WriteFormat = "parquet",
    *,
    n_events: int | None = None,
) -> WrittenShop:
    """Generate the shop and write it block by block, never holding the whole event log.

    The files equal those of ``write_shop(generate_shop(config, n_events=n_events), ...)``
    (for Parquet: the same rows and columns, in row groups of one block of
    :data:`USERS_PER_CHUNK` users each). Memory is bounded by the catalogue, the users frame
    and one block of the log, so 1M users / 10M events fit in a few GB.

    Raises
    ------
    ConfigError
        Unknown ``fmt``, or ``n_events`` too small for ``n_users``.
    """
    _check_format(fmt)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    plan = _plan(config, n_events)
    paths = {name: out / f"{name}.{fmt}" for name in ("interactions", "items", "users")}
    writer = _TableWriter(paths["interactions"], fmt)
    count = 0
    for frame in _iter_interactions(plan):
        count += len(frame)
        writer.write(frame.drop(columns=[SOURCE_ROW]))
    writer.close()
    for name, frame in (("items", plan.catalogue.items), ("users", plan.users.frame)):
        if fmt == "parquet":
            frame.to_parquet(paths[name], index=False)
        else:
            table_writer = _TableWriter(paths[name], fmt)
            table_writer.write(frame)
            table_writer.close()
    return WrittenShop(paths, plan.config, count, len(plan.catalogue.items))
