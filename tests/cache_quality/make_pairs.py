#!/usr/bin/env python3
"""Writes ``pairs.jsonl`` from the hand-written groups below (run once; the output is frozen).

Each group is one user question ``a`` with two paraphrases (``reworded`` by hand, and a
``light`` near-verbatim repeat made by one of seven edits) and one or more near-misses (single
edits that change the answer). Pair ids are stable (group number + suffix); the split is fixed
here, per group (every 4th group is test), so that a paraphrase and its near-misses never straddle
the two splits. Re-running reproduces the same file byte for byte; editing the groups changes it,
and then the test split is no longer the frozen one: append new groups at the end instead.

    python tests/cache_quality/make_pairs.py
"""

from __future__ import annotations

import json
from pathlib import Path

# (domain, a, paraphrase of a, [(near-miss of a, edit), ...])
G = list[tuple[str, str, str, list[tuple[str, str]]]]
GROUPS: G = [
    # ---- travel
    (
        "travel",
        "Find me flights from New York to Miami next Friday.",
        "Show flights departing New York for Miami this coming Friday.",
        [("Find me flights from Miami to New York next Friday.", "direction")],
    ),
    (
        "travel",
        "How long is the train ride from Paris to Lyon?",
        "What's the travel time by train between Paris and Lyon?",
        [("How long is the train ride from Paris to Marseille?", "entity")],
    ),
    (
        "travel",
        "Do I need a visa to visit Japan as a US citizen?",
        "As an American, is a visa required for travelling to Japan?",
        [
            ("Do I need a visa to visit China as a US citizen?", "entity"),
            ("Do I need a visa to visit Japan as a Canadian citizen?", "entity"),
        ],
    ),
    (
        "travel",
        "What is the baggage allowance for economy class on Lufthansa?",
        "How much luggage can I bring in economy on Lufthansa?",
        [("What is the baggage allowance for business class on Lufthansa?", "entity")],
    ),
    (
        "travel",
        "Book a hotel in Rome for 3 nights starting June 12.",
        "I need a Rome hotel for three nights from June 12.",
        [
            ("Book a hotel in Rome for 5 nights starting June 12.", "number"),
            ("Book a hotel in Rome for 3 nights starting July 12.", "entity"),
        ],
    ),
    (
        "travel",
        "What's the cheapest way to get from the airport to downtown Chicago?",
        "How can I get from the Chicago airport into downtown as cheaply as possible?",
        [("What's the fastest way to get from the airport to downtown Chicago?", "comparison")],
    ),
    (
        "travel",
        "Can I bring a 100 ml bottle of liquid in my carry-on?",
        "Is a 100 ml liquid bottle allowed in hand luggage?",
        [("Can I bring a 500 ml bottle of liquid in my carry-on?", "number")],
    ),
    (
        "travel",
        "Is it safe to travel to Egypt in August?",
        "Would a trip to Egypt in August be safe?",
        [("Is it safe to travel to Egypt in December?", "entity")],
    ),
    (
        "travel",
        "How early should I arrive at the airport for an international flight?",
        "For an international flight, how far ahead should I get to the airport?",
        [("How early should I arrive at the airport for a domestic flight?", "entity")],
    ),
    (
        "travel",
        "Which terminal does Delta use at JFK?",
        "At JFK, what terminal is Delta in?",
        [("Which terminal does Delta use at LAX?", "entity")],
    ),
    (
        "travel",
        "What time does the last bus leave from Oxford to London?",
        "When is the final bus from Oxford to London?",
        [
            ("What time does the first bus leave from Oxford to London?", "comparison"),
            ("What time does the last bus leave from London to Oxford?", "direction"),
        ],
    ),
    (
        "travel",
        "Can I cancel my booking without paying a fee?",
        "Is it possible to cancel the reservation free of charge?",
        [("Can I change my booking without paying a fee?", "action")],
    ),
    (
        "travel",
        "How many hours is the time difference between London and Tokyo?",
        "What's the time gap between London and Tokyo in hours?",
        [("How many hours is the time difference between London and Sydney?", "entity")],
    ),
    (
        "travel",
        "I want to fly to Berlin, not Munich. What are my options?",
        "What options do I have for flying to Berlin rather than Munich?",
        [("I want to fly to Munich, not Berlin. What are my options?", "direction")],
    ),
    # ---- finance
    (
        "finance",
        "Should I buy Tesla stock right now?",
        "Is now a good time to purchase Tesla shares?",
        [("Should I sell Tesla stock right now?", "buy_sell")],
    ),
    (
        "finance",
        "What is the current exchange rate from USD to EUR?",
        "How many euros do I get for one US dollar today?",
        [
            ("What is the current exchange rate from EUR to USD?", "direction"),
            ("What is the current exchange rate from USD to GBP?", "entity"),
        ],
    ),
    (
        "finance",
        "Convert 100 dollars to euros.",
        "How much is $100 in euros?",
        [("Convert 100 euros to dollars.", "direction"), ("Convert 1000 dollars to euros.", "number")],
    ),
    (
        "finance",
        "What is the monthly payment on a 300,000 dollar mortgage at 6% over 30 years?",
        "Monthly payment for a $300,000 home loan, 30-year term, 6 percent interest?",
        [
            ("What is the monthly payment on a 300,000 dollar mortgage at 7% over 30 years?", "number"),
            ("What is the monthly payment on a 300,000 dollar mortgage at 6% over 15 years?", "number"),
        ],
    ),
    (
        "finance",
        "Is it a good idea to sell my Apple shares before earnings?",
        "Should I get rid of my Apple stock ahead of the earnings report?",
        [
            ("Is it a good idea to buy Apple shares before earnings?", "buy_sell"),
            ("Is it a good idea to sell my Apple shares after earnings?", "direction"),
        ],
    ),
    (
        "finance",
        "How much tax do I pay on 50,000 dollars of income in California?",
        "What's the California income tax on a $50,000 salary?",
        [
            ("How much tax do I pay on 50,000 dollars of income in Texas?", "entity"),
            ("How much tax do I pay on 80,000 dollars of income in California?", "number"),
        ],
    ),
    (
        "finance",
        "What happens if I withdraw money from my 401k early?",
        "What are the consequences of taking an early withdrawal from a 401k?",
        [("What happens if I deposit money into my 401k early?", "direction")],
    ),
    (
        "finance",
        "Compound interest on 10,000 dollars at 5% for 10 years?",
        "If I invest $10,000 at 5 percent compounded yearly, what do I have after 10 years?",
        [("Compound interest on 10,000 dollars at 5% for 20 years?", "number")],
    ),
    (
        "finance",
        "Is the S&P 500 above its 200-day moving average?",
        "Is the S&P 500 trading over the 200-day moving average right now?",
        [
            ("Is the S&P 500 below its 200-day moving average?", "direction"),
            ("Is the S&P 500 above its 50-day moving average?", "number"),
        ],
    ),
    (
        "finance",
        "What is the difference between a Roth IRA and a traditional IRA?",
        "How does a Roth IRA differ from a traditional IRA?",
        [("What is the difference between a Roth IRA and a Roth 401k?", "entity")],
    ),
    (
        "finance",
        "Why did the price of Bitcoin go up today?",
        "What made Bitcoin rise today?",
        [
            ("Why did the price of Bitcoin go down today?", "direction"),
            ("Why did the price of Ethereum go up today?", "entity"),
        ],
    ),
    (
        "finance",
        "Can I deduct my home office expenses on my taxes?",
        "Are home office costs tax deductible?",
        [("Can I not deduct my home office expenses on my taxes?", "negation")],
    ),
    (
        "finance",
        "How do I transfer money from my savings to my checking account?",
        "What's the way to move funds from savings into checking?",
        [("How do I transfer money from my checking to my savings account?", "direction")],
    ),
    (
        "finance",
        "What was the inflation rate in the UK in 2022?",
        "How high was UK inflation during 2022?",
        [
            ("What was the inflation rate in the UK in 2019?", "number"),
            ("What was the inflation rate in the US in 2022?", "entity"),
        ],
    ),
    (
        "finance",
        "Should I pay off my credit card or invest in index funds?",
        "Is it better to clear my credit card debt or put money into index funds?",
        [("Should I pay off my student loan or invest in index funds?", "entity")],
    ),
    # ---- weather / units
    (
        "units",
        "Convert 30 degrees Celsius to Fahrenheit.",
        "What is 30 °C in Fahrenheit?",
        [
            ("Convert 30 degrees Fahrenheit to Celsius.", "unit"),
            ("Convert 35 degrees Celsius to Fahrenheit.", "number"),
        ],
    ),
    (
        "units",
        "How many kilometers are in 10 miles?",
        "What is 10 miles in km?",
        [
            ("How many miles are in 10 kilometers?", "unit"),
            ("How many kilometers are in 100 miles?", "number"),
        ],
    ),
    (
        "units",
        "How many grams are in 2 pounds?",
        "Convert 2 lbs to grams.",
        [("How many grams are in 2 ounces?", "unit")],
    ),
    (
        "units",
        "How many cups are in a liter?",
        "A liter is how many cups?",
        [("How many cups are in a gallon?", "unit")],
    ),
    (
        "units",
        "What is 6 feet 2 inches in centimeters?",
        "Convert 6 ft 2 in to cm.",
        [
            ("What is 5 feet 2 inches in centimeters?", "number"),
            ("What is 6 feet 2 inches in meters?", "unit"),
        ],
    ),
    (
        "units",
        "How many ounces are in 500 ml?",
        "Convert 500 milliliters to ounces.",
        [("How many ounces are in 500 liters?", "unit")],
    ),
    (
        "units",
        "What is 70 kg in pounds?",
        "Convert 70 kilograms to lbs.",
        [("What is 70 pounds in kg?", "unit"), ("What is 77 kg in pounds?", "number")],
    ),
    (
        "units",
        "How fast is 100 km/h in mph?",
        "Convert 100 kilometres per hour to miles per hour.",
        [("How fast is 100 mph in km/h?", "unit")],
    ),
    (
        "units",
        "How many seconds are in a day?",
        "What's the number of seconds in one day?",
        [("How many seconds are in a week?", "unit"), ("How many minutes are in a day?", "unit")],
    ),
    (
        "units",
        "How many bytes in 1 megabyte?",
        "1 MB is how many bytes?",
        [("How many bytes in 1 gigabyte?", "unit")],
    ),
    (
        "units",
        "Convert 5 gallons to liters.",
        "How many liters is 5 gallons?",
        [("Convert 5 liters to gallons.", "direction")],
    ),
    (
        "weather",
        "What's the weather forecast for Seattle tomorrow?",
        "Will it be nice in Seattle tomorrow? What's the forecast?",
        [
            ("What's the weather forecast for Seattle next week?", "time"),
            ("What's the weather forecast for Portland tomorrow?", "entity"),
        ],
    ),
    (
        "weather",
        "Will it rain in London this weekend?",
        "Is rain expected in London on Saturday and Sunday?",
        [("Will it snow in London this weekend?", "entity")],
    ),
    (
        "weather",
        "What was the highest temperature ever recorded in Phoenix?",
        "What's the record high temperature for Phoenix?",
        [("What was the lowest temperature ever recorded in Phoenix?", "comparison")],
    ),
    (
        "weather",
        "Is it going to be colder than 0 degrees in Toronto tonight?",
        "Will Toronto drop below freezing tonight?",
        [("Is it going to be warmer than 0 degrees in Toronto tonight?", "comparison")],
    ),
    (
        "weather",
        "What is the average rainfall in Mumbai in July?",
        "How much does it typically rain in Mumbai during July?",
        [("What is the average rainfall in Mumbai in January?", "entity")],
    ),
    (
        "weather",
        "When does hurricane season start in Florida?",
        "What month does Florida's hurricane season begin?",
        [("When does hurricane season end in Florida?", "direction")],
    ),
    (
        "weather",
        "Is the UV index high in Sydney today?",
        "How strong is the UV in Sydney today?",
        [("Is the UV index low in Sydney today?", "direction")],
    ),
    # ---- coding
    (
        "coding",
        "How do I reverse a list in Python?",
        "What's the way to reverse a Python list?",
        [("How do I sort a list in Python?", "action"), ("How do I reverse a list in JavaScript?", "entity")],
    ),
    (
        "coding",
        "How do I convert a string to an integer in Java?",
        "In Java, how can I turn a String into an int?",
        [("How do I convert an integer to a string in Java?", "direction")],
    ),
    (
        "coding",
        "Sort a list of dictionaries by a key in ascending order in Python.",
        "In Python, how do I order a list of dicts by one key, ascending?",
        [("Sort a list of dictionaries by a key in descending order in Python.", "direction")],
    ),
    (
        "coding",
        "How do I remove a file from a git commit?",
        "How can I take a file out of a git commit?",
        [("How do I add a file to a git commit?", "action")],
    ),
    (
        "coding",
        "What is the difference between let and const in JavaScript?",
        "How do let and const differ in JS?",
        [("What is the difference between let and var in JavaScript?", "entity")],
    ),
    (
        "coding",
        "How do I undo the last git commit but keep the changes?",
        "Revert my most recent git commit without losing the changes.",
        [
            ("How do I undo the last git commit and discard the changes?", "action"),
            ("How do I undo the last 3 git commits but keep the changes?", "number"),
        ],
    ),
    (
        "coding",
        "Write a SQL query to find the top 5 customers by revenue.",
        "SQL to get the five customers with the highest revenue.",
        [
            ("Write a SQL query to find the top 10 customers by revenue.", "number"),
            ("Write a SQL query to find the bottom 5 customers by revenue.", "direction"),
        ],
    ),
    (
        "coding",
        "How do I read a CSV file with pandas?",
        "What's the pandas function to load a CSV file?",
        [("How do I write a CSV file with pandas?", "direction")],
    ),
    (
        "coding",
        "How can I make an HTTP GET request in Go?",
        "Show me how to send a GET request using Go.",
        [
            ("How can I make an HTTP POST request in Go?", "entity"),
            ("How can I make an HTTP GET request in Rust?", "entity"),
        ],
    ),
    (
        "coding",
        "Why is my React component rendering twice?",
        "My React component renders two times, why?",
        [("Why is my React component not rendering?", "negation")],
    ),
    (
        "coding",
        "How do I enable CORS in a Flask app?",
        "How to turn on CORS for Flask?",
        [("How do I disable CORS in a Flask app?", "direction")],
    ),
    (
        "coding",
        "What does the error 'list index out of range' mean in Python?",
        "Python says 'list index out of range', what does that mean?",
        [("What does the error 'dict key not found' mean in Python?", "entity")],
    ),
    (
        "coding",
        "Convert this JSON to YAML.",
        "Turn the following JSON into YAML.",
        [("Convert this YAML to JSON.", "direction")],
    ),
    (
        "coding",
        "How do I check if a key exists in a Python dictionary?",
        "In Python, how do I test whether a dict has a given key?",
        [("How do I check if a value exists in a Python dictionary?", "entity")],
    ),
    (
        "coding",
        "How do I install Node.js version 18 on Ubuntu?",
        "Steps to install Node 18 on Ubuntu?",
        [
            ("How do I install Node.js version 20 on Ubuntu?", "number"),
            ("How do I uninstall Node.js version 18 on Ubuntu?", "action"),
        ],
    ),
    (
        "coding",
        "How do I merge the main branch into my feature branch?",
        "What's the command to merge main into my feature branch?",
        [("How do I merge my feature branch into the main branch?", "direction")],
    ),
    (
        "coding",
        "How do I encrypt a file with OpenSSL?",
        "What's the OpenSSL command to encrypt a file?",
        [("How do I decrypt a file with OpenSSL?", "direction")],
    ),
    (
        "coding",
        "Write a regex that matches a US phone number.",
        "Give me a regular expression for US phone numbers.",
        [("Write a regex that matches a UK phone number.", "entity")],
    ),
    (
        "coding",
        "Should I use a thread pool or a process pool for CPU-bound work in Python?",
        "For CPU-bound Python code, is a thread pool or a process pool better?",
        [("Should I use a thread pool or a process pool for IO-bound work in Python?", "entity")],
    ),
    (
        "coding",
        "How do I increase the heap size of the JVM?",
        "How can I give the JVM more heap memory?",
        [("How do I decrease the heap size of the JVM?", "direction")],
    ),
    (
        "coding",
        "What is the time complexity of binary search?",
        "What's binary search's big-O running time?",
        [
            ("What is the space complexity of binary search?", "entity"),
            ("What is the time complexity of linear search?", "entity"),
        ],
    ),
    # ---- math
    (
        "math",
        "What is 15% of 80?",
        "Calculate fifteen percent of 80.",
        [("What is 15% of 90?", "number"), ("What is 80% of 15?", "direction")],
    ),
    (
        "math",
        "What is the square root of 144?",
        "Compute sqrt(144).",
        [("What is the square root of 169?", "number"), ("What is the square of 144?", "entity")],
    ),
    ("math", "Is 91 a prime number?", "Is the number 91 prime?", [("Is 97 a prime number?", "number")]),
    (
        "math",
        "What is 7 times 8?",
        "Multiply 7 by 8.",
        [("What is 7 times 9?", "number"), ("What is 7 plus 8?", "operator")],
    ),
    (
        "math",
        "Solve for x: 2x + 3 = 11.",
        "Find x if 2x + 3 equals 11.",
        [("Solve for x: 2x - 3 = 11.", "operator"), ("Solve for x: 2x + 3 = 13.", "number")],
    ),
    (
        "math",
        "What is the derivative of sin(x)?",
        "Differentiate sin x.",
        [("What is the integral of sin(x)?", "entity"), ("What is the derivative of cos(x)?", "entity")],
    ),
    (
        "math",
        "What is the area of a circle with a radius of 5 cm?",
        "Area of a circle whose radius is 5 cm?",
        [
            ("What is the area of a circle with a diameter of 5 cm?", "entity"),
            ("What is the circumference of a circle with a radius of 5 cm?", "entity"),
        ],
    ),
    (
        "math",
        "How many ways can I choose 3 items from 10?",
        "What is 10 choose 3?",
        [("How many ways can I choose 4 items from 10?", "number")],
    ),
    (
        "math",
        "Is 0.1 plus 0.2 equal to 0.3 in floating point?",
        "In floating-point arithmetic, does 0.1 + 0.2 equal 0.3?",
        [("Is 0.1 plus 0.2 not equal to 0.3 in floating point?", "negation")],
    ),
    (
        "math",
        "What is 2 to the power of 10?",
        "Compute 2^10.",
        [("What is 10 to the power of 2?", "direction"), ("What is 2 to the power of 16?", "number")],
    ),
    (
        "math",
        "Which is larger, 3/7 or 4/9?",
        "Is 3/7 bigger than 4/9, or the other way around?",
        [("Which is smaller, 3/7 or 4/9?", "comparison")],
    ),
    (
        "math",
        "What is the probability of rolling two sixes with two dice?",
        "If I roll a pair of dice, what are the odds both show six?",
        [
            ("What is the probability of rolling at least one six with two dice?", "quantifier"),
            ("What is the probability of rolling two sixes with three dice?", "number"),
        ],
    ),
    (
        "math",
        "Round 3.14159 to two decimal places.",
        "What is 3.14159 rounded to 2 decimals?",
        [("Round 3.14159 to three decimal places.", "number")],
    ),
    (
        "math",
        "What is the sum of the angles in a triangle?",
        "The angles of a triangle add up to what?",
        [("What is the sum of the angles in a pentagon?", "entity")],
    ),
    (
        "math",
        "Is the function f(x) = x^2 increasing for x greater than 0?",
        "For x > 0, does f(x) = x^2 increase?",
        [("Is the function f(x) = x^2 increasing for x less than 0?", "comparison")],
    ),
    # ---- geography
    (
        "geography",
        "What is the capital of Australia?",
        "Which city is Australia's capital?",
        [("What is the capital of Austria?", "entity"), ("What is the largest city of Australia?", "entity")],
    ),
    (
        "geography",
        "What is the longest river in Africa?",
        "Which river in Africa is the longest?",
        [
            ("What is the longest river in South America?", "entity"),
            ("What is the shortest river in Africa?", "comparison"),
        ],
    ),
    (
        "geography",
        "How tall is Mount Everest in meters?",
        "What's the height of Everest in metres?",
        [
            ("How tall is Mount Everest in feet?", "unit"),
            ("How tall is Mount Kilimanjaro in meters?", "entity"),
        ],
    ),
    (
        "geography",
        "Which countries border Germany?",
        "What are Germany's neighbouring countries?",
        [("Which countries border Poland?", "entity")],
    ),
    (
        "geography",
        "What is the population of Canada?",
        "How many people live in Canada?",
        [
            ("What is the population of Canada's capital?", "entity"),
            ("What is the area of Canada?", "entity"),
        ],
    ),
    (
        "geography",
        "Is Istanbul in Europe or Asia?",
        "Does Istanbul belong to Europe or to Asia?",
        [("Is Ankara in Europe or Asia?", "entity")],
    ),
    (
        "geography",
        "What is the northernmost city in the world?",
        "Which city lies farthest north on Earth?",
        [("What is the southernmost city in the world?", "direction")],
    ),
    (
        "geography",
        "How far is the Moon from the Earth?",
        "What is the distance between the Earth and the Moon?",
        [("How far is Mars from the Earth?", "entity")],
    ),
    (
        "geography",
        "What is the official language of Brazil?",
        "Which language is spoken officially in Brazil?",
        [("What is the official language of Argentina?", "entity")],
    ),
    (
        "geography",
        "What is the deepest lake in the world?",
        "Which lake on Earth is the deepest?",
        [("What is the largest lake in the world?", "comparison")],
    ),
    (
        "geography",
        "Which US state has the most national parks?",
        "What state in the US has the largest number of national parks?",
        [("Which US state has the fewest national parks?", "comparison")],
    ),
    (
        "geography",
        "What is the time zone of Denver?",
        "Which time zone is Denver in?",
        [("What is the time zone of Phoenix?", "entity")],
    ),
    (
        "geography",
        "Is Greenland part of North America or Europe?",
        "Does Greenland belong to North America or to Europe?",
        [("Is Iceland part of North America or Europe?", "entity")],
    ),
    # ---- health
    (
        "health",
        "What is the maximum daily dose of ibuprofen for adults?",
        "How much ibuprofen can an adult safely take in a day at most?",
        [
            ("What is the maximum daily dose of ibuprofen for children?", "entity"),
            ("What is the maximum daily dose of acetaminophen for adults?", "entity"),
        ],
    ),
    (
        "health",
        "Can I take ibuprofen with alcohol?",
        "Is it safe to mix ibuprofen and alcohol?",
        [("Can I take ibuprofen without food?", "entity")],
    ),
    (
        "health",
        "Is 140 over 90 high blood pressure?",
        "Is a blood pressure of 140/90 considered high?",
        [
            ("Is 120 over 80 high blood pressure?", "number"),
            ("Is 140 over 90 low blood pressure?", "direction"),
        ],
    ),
    (
        "health",
        "How many calories should a 30 year old woman eat per day?",
        "Daily calorie needs for a woman aged 30?",
        [
            ("How many calories should a 30 year old man eat per day?", "entity"),
            ("How many calories should a 60 year old woman eat per day?", "number"),
        ],
    ),
    (
        "health",
        "What are the symptoms of vitamin D deficiency?",
        "What are signs that I'm low on vitamin D?",
        [
            ("What are the symptoms of vitamin B12 deficiency?", "entity"),
            ("What are the symptoms of too much vitamin D?", "direction"),
        ],
    ),
    (
        "health",
        "Is a fever of 39 degrees dangerous for a toddler?",
        "My toddler has a 39 degree fever, is that dangerous?",
        [
            ("Is a fever of 41 degrees dangerous for a toddler?", "number"),
            ("Is a fever of 39 degrees dangerous for an adult?", "entity"),
        ],
    ),
    (
        "health",
        "How long should I wait to swim after eating?",
        "After a meal, how long until I can go swimming?",
        [("How long should I wait to eat after swimming?", "direction")],
    ),
    (
        "health",
        "Should I use ice or heat for a sprained ankle?",
        "For an ankle sprain, is ice or heat better?",
        [("Should I use ice or heat for a stiff neck?", "entity")],
    ),
    (
        "health",
        "Is it safe to take aspirin during pregnancy?",
        "Can pregnant women take aspirin safely?",
        [
            ("Is it safe to take aspirin while breastfeeding?", "entity"),
            ("Is it unsafe to take aspirin during pregnancy?", "negation"),
        ],
    ),
    (
        "health",
        "How many hours of sleep does a teenager need?",
        "What's the recommended amount of sleep for teens?",
        [("How many hours of sleep does a newborn need?", "entity")],
    ),
    (
        "health",
        "What foods raise HDL cholesterol?",
        "Which foods increase good HDL cholesterol?",
        [("What foods lower HDL cholesterol?", "direction"), ("What foods raise LDL cholesterol?", "entity")],
    ),
    (
        "health",
        "Is a resting heart rate of 50 normal?",
        "Is 50 bpm a normal resting heart rate?",
        [("Is a resting heart rate of 110 normal?", "number")],
    ),
    (
        "health",
        "Do I need to fast before a cholesterol test?",
        "Is fasting required before a cholesterol blood test?",
        [("Do I need to fast before a COVID test?", "entity")],
    ),
    # ---- shopping
    (
        "shopping",
        "Is the iPhone 15 worth buying in 2024?",
        "Should I get an iPhone 15 this year, 2024?",
        [
            ("Is the iPhone 13 worth buying in 2024?", "number"),
            ("Is the iPhone 15 worth selling in 2024?", "buy_sell"),
        ],
    ),
    (
        "shopping",
        "What is the best laptop under 1000 dollars?",
        "Recommend a top laptop for less than $1000.",
        [
            ("What is the best laptop under 500 dollars?", "number"),
            ("What is the best laptop over 1000 dollars?", "comparison"),
        ],
    ),
    (
        "shopping",
        "Compare the Samsung Galaxy S24 and the Pixel 8.",
        "Samsung Galaxy S24 vs Pixel 8: which is better?",
        [
            ("Compare the Samsung Galaxy S23 and the Pixel 8.", "number"),
            ("Compare the Samsung Galaxy S24 and the iPhone 15.", "entity"),
        ],
    ),
    (
        "shopping",
        "Where can I buy a used PlayStation 5?",
        "Where is a good place to purchase a second-hand PS5?",
        [
            ("Where can I sell a used PlayStation 5?", "buy_sell"),
            ("Where can I buy a new PlayStation 5?", "entity"),
        ],
    ),
    (
        "shopping",
        "What size TV should I get for a 3 meter viewing distance?",
        "Best TV size for sitting 3 m from the screen?",
        [("What size TV should I get for a 2 meter viewing distance?", "number")],
    ),
    (
        "shopping",
        "Does Amazon offer free returns on shoes?",
        "Can I return shoes to Amazon for free?",
        [("Does Zappos offer free returns on shoes?", "entity")],
    ),
    (
        "shopping",
        "Is it cheaper to buy a car in December?",
        "Are cars less expensive if I buy in December?",
        [
            ("Is it cheaper to lease a car in December?", "action"),
            ("Is it cheaper to buy a car in March?", "entity"),
        ],
    ),
    (
        "shopping",
        "What's a good gift for a 10 year old boy?",
        "Gift ideas for a ten-year-old boy?",
        [
            ("What's a good gift for a 10 year old girl?", "entity"),
            ("What's a good gift for a 4 year old boy?", "number"),
        ],
    ),
    (
        "shopping",
        "Which vacuum cleaner is best for pet hair?",
        "Best vacuum for dealing with pet hair?",
        [("Which vacuum cleaner is best for hardwood floors?", "entity")],
    ),
    (
        "shopping",
        "Is the Dyson V15 better than the V12?",
        "Dyson V15 or V12, which one is better?",
        [("Is the Dyson V15 worse than the V12?", "comparison")],
    ),
    (
        "shopping",
        "How much does a 2 TB SSD cost?",
        "What's the price of a 2TB solid state drive?",
        [("How much does a 2 TB hard drive cost?", "entity"), ("How much does a 4 TB SSD cost?", "number")],
    ),
    # ---- support
    (
        "support",
        "How do I reset my password?",
        "I forgot my password, how can I change it?",
        [("How do I reset my username?", "entity")],
    ),
    (
        "support",
        "How do I cancel my subscription?",
        "I want to end my subscription, how do I do that?",
        [("How do I pause my subscription?", "action"), ("How do I renew my subscription?", "action")],
    ),
    (
        "support",
        "My order #48213 hasn't arrived yet.",
        "Order 48213 still hasn't been delivered.",
        [("My order #48231 hasn't arrived yet.", "number")],
    ),
    (
        "support",
        "How do I upgrade my plan from Basic to Pro?",
        "I'd like to move from the Basic plan up to Pro. How?",
        [
            ("How do I downgrade my plan from Pro to Basic?", "direction"),
            ("How do I upgrade my plan from Basic to Enterprise?", "entity"),
        ],
    ),
    (
        "support",
        "Can I get a refund after 30 days?",
        "Are refunds possible more than 30 days later?",
        [
            ("Can I get a refund within 30 days?", "comparison"),
            ("Can I get a refund after 60 days?", "number"),
        ],
    ),
    (
        "support",
        "Why was I charged twice this month?",
        "I see two charges this month, why?",
        [("Why was I not charged this month?", "negation")],
    ),
    (
        "support",
        "How do I turn on two-factor authentication?",
        "How can I enable 2FA on my account?",
        [("How do I turn off two-factor authentication?", "direction")],
    ),
    (
        "support",
        "How do I add a user to my team account?",
        "What's the way to invite someone to my team?",
        [("How do I remove a user from my team account?", "direction")],
    ),
    (
        "support",
        "The app crashes when I open it on Android.",
        "On Android, the app crashes as soon as I launch it.",
        [
            ("The app crashes when I open it on iOS.", "entity"),
            ("The app doesn't crash when I open it on Android.", "negation"),
        ],
    ),
    (
        "support",
        "How do I change my shipping address for order 5521?",
        "I need to update the delivery address on order 5521.",
        [
            ("How do I change my billing address for order 5521?", "entity"),
            ("How do I change my shipping address for order 5512?", "number"),
        ],
    ),
    (
        "support",
        "How do I export my data to CSV?",
        "Can I download my data as a CSV file?",
        [("How do I import my data from CSV?", "direction"), ("How do I export my data to PDF?", "entity")],
    ),
    (
        "support",
        "What are your support hours on weekends?",
        "When is support available on Saturday and Sunday?",
        [("What are your support hours on weekdays?", "entity")],
    ),
    (
        "support",
        "Is my account locked after 5 failed login attempts?",
        "Does my account get locked after five wrong logins?",
        [("Is my account locked after 3 failed login attempts?", "number")],
    ),
    (
        "support",
        "How do I delete my account permanently?",
        "I want to permanently remove my account. How?",
        [("How do I deactivate my account temporarily?", "action")],
    ),
    # ---- cooking / everyday
    (
        "cooking",
        "How long do I boil an egg for a runny yolk?",
        "Boiling time for a soft egg with a runny yolk?",
        [("How long do I boil an egg for a hard yolk?", "entity")],
    ),
    (
        "cooking",
        "What temperature should I bake chicken breast at?",
        "At what oven temperature do I bake chicken breasts?",
        [("What temperature should I bake salmon at?", "entity")],
    ),
    (
        "cooking",
        "Can I substitute baking soda for baking powder?",
        "Is it OK to use baking soda instead of baking powder?",
        [("Can I substitute baking powder for baking soda?", "direction")],
    ),
    (
        "cooking",
        "How many tablespoons are in a quarter cup?",
        "A quarter cup equals how many tablespoons?",
        [
            ("How many teaspoons are in a quarter cup?", "unit"),
            ("How many tablespoons are in a half cup?", "number"),
        ],
    ),
    (
        "cooking",
        "Bake the cake at 180 degrees for 30 minutes?",
        "Should the cake go in at 180 degrees for half an hour?",
        [
            ("Bake the cake at 180 degrees for 50 minutes?", "number"),
            ("Bake the cake at 160 degrees for 30 minutes?", "number"),
        ],
    ),
    (
        "cooking",
        "Is it safe to eat raw cookie dough?",
        "Can I safely eat cookie dough uncooked?",
        [("Is it safe to eat raw bread dough?", "entity")],
    ),
    (
        "cooking",
        "How do I make a vegan chocolate cake?",
        "Recipe for a chocolate cake without any animal products?",
        [
            ("How do I make a gluten-free chocolate cake?", "entity"),
            ("How do I make a vegan carrot cake?", "entity"),
        ],
    ),
    (
        "cooking",
        "How long can cooked rice stay in the fridge?",
        "How many days does cooked rice keep in the refrigerator?",
        [
            ("How long can cooked rice stay in the freezer?", "entity"),
            ("How long can uncooked rice stay in the fridge?", "negation"),
        ],
    ),
    # ---- science / general knowledge
    (
        "science",
        "Why is the sky blue?",
        "What makes the sky appear blue?",
        [("Why is the sunset red?", "entity")],
    ),
    (
        "science",
        "What is the boiling point of water at sea level?",
        "At sea level, at what temperature does water boil?",
        [
            ("What is the freezing point of water at sea level?", "entity"),
            ("What is the boiling point of water at 3000 meters?", "number"),
        ],
    ),
    (
        "science",
        "How many protons does a carbon atom have?",
        "What's the proton count of carbon?",
        [
            ("How many neutrons does a carbon atom have?", "entity"),
            ("How many protons does an oxygen atom have?", "entity"),
        ],
    ),
    (
        "science",
        "Who wrote Pride and Prejudice?",
        "Who is the author of Pride and Prejudice?",
        [("Who wrote Sense and Sensibility?", "entity")],
    ),
    (
        "science",
        "When did World War II end?",
        "In what year did the Second World War end?",
        [("When did World War I end?", "number"), ("When did World War II start?", "direction")],
    ),
    (
        "science",
        "Who was the first person to walk on the Moon?",
        "Which astronaut walked on the Moon first?",
        [
            ("Who was the second person to walk on the Moon?", "number"),
            ("Who was the first person to walk in space?", "entity"),
        ],
    ),
    (
        "science",
        "Does the Earth orbit the Sun or the Sun orbit the Earth?",
        "Is it the Earth that goes around the Sun, or the reverse?",
        [("Does the Moon orbit the Earth or the Earth orbit the Moon?", "entity")],
    ),
    (
        "science",
        "What is the speed of light in km per second?",
        "How fast does light travel, in kilometers per second?",
        [
            ("What is the speed of sound in km per second?", "entity"),
            ("What is the speed of light in miles per second?", "unit"),
        ],
    ),
    (
        "science",
        "Is a tomato a fruit or a vegetable?",
        "Are tomatoes fruits or vegetables?",
        [("Is a cucumber a fruit or a vegetable?", "entity")],
    ),
    (
        "science",
        "Which planet is closest to the Sun?",
        "What's the nearest planet to the Sun?",
        [
            ("Which planet is farthest from the Sun?", "comparison"),
            ("Which planet is closest to the Earth?", "entity"),
        ],
    ),
    # ---- legal / HR / business
    (
        "work",
        "How many vacation days am I entitled to in Germany?",
        "What's the legal minimum of paid leave days in Germany?",
        [
            ("How many vacation days am I entitled to in France?", "entity"),
            ("How many sick days am I entitled to in Germany?", "entity"),
        ],
    ),
    (
        "work",
        "Can my employer fire me without notice?",
        "Is it legal for my boss to dismiss me with no notice?",
        [("Can I quit my job without notice?", "direction")],
    ),
    (
        "work",
        "Write a polite email declining a meeting invitation.",
        "Draft a courteous email to turn down a meeting invite.",
        [
            ("Write a polite email accepting a meeting invitation.", "direction"),
            ("Write a polite email declining a job offer.", "entity"),
        ],
    ),
    (
        "work",
        "Summarize this article in 3 bullet points.",
        "Give me a three-bullet summary of this article.",
        [("Summarize this article in 10 bullet points.", "number")],
    ),
    (
        "work",
        "Translate 'good morning' into Spanish.",
        "How do you say 'good morning' in Spanish?",
        [
            ("Translate 'good morning' into French.", "entity"),
            ("Translate 'good night' into Spanish.", "entity"),
        ],
    ),
    (
        "work",
        "Translate this paragraph from English to German.",
        "Please put this paragraph into German; it's in English.",
        [("Translate this paragraph from German to English.", "direction")],
    ),
    (
        "work",
        "Is overtime paid after 40 hours per week in the US?",
        "In the US, do you get overtime pay beyond 40 hours a week?",
        [
            ("Is overtime paid after 35 hours per week in the US?", "number"),
            ("Is overtime paid after 40 hours per day in the US?", "unit"),
        ],
    ),
    (
        "work",
        "What is the minimum wage in New York in 2024?",
        "How much is New York's 2024 minimum wage?",
        [
            ("What is the minimum wage in New York in 2020?", "number"),
            ("What is the minimum wage in New Jersey in 2024?", "entity"),
        ],
    ),
    (
        "work",
        "Is a verbal contract legally binding?",
        "Are oral agreements enforceable by law?",
        [("Is a verbal contract not legally binding?", "negation")],
    ),
    (
        "work",
        "Write a cover letter for a junior data analyst position.",
        "Draft a cover letter applying for a junior data analyst job.",
        [
            ("Write a cover letter for a senior data analyst position.", "entity"),
            ("Write a resignation letter for a junior data analyst position.", "entity"),
        ],
    ),
    # ---- sports / entertainment
    (
        "sports",
        "Who won the World Cup in 2018?",
        "Which country won the 2018 FIFA World Cup?",
        [
            ("Who won the World Cup in 2014?", "number"),
            ("Who lost the World Cup final in 2018?", "direction"),
        ],
    ),
    (
        "sports",
        "How many players are on a basketball team on the court?",
        "How many basketball players per team are on the court at once?",
        [("How many players are on a volleyball team on the court?", "entity")],
    ),
    (
        "sports",
        "When do the Lakers play the Celtics next?",
        "What's the date of the next Lakers vs Celtics game?",
        [("When do the Lakers play the Warriors next?", "entity")],
    ),
    (
        "sports",
        "Recommend a movie like Inception.",
        "What films are similar to Inception?",
        [("Recommend a movie like Interstellar.", "entity")],
    ),
    (
        "sports",
        "How many seasons does Breaking Bad have?",
        "What's the number of seasons of Breaking Bad?",
        [
            ("How many episodes does Breaking Bad have?", "entity"),
            ("How many seasons does Better Call Saul have?", "entity"),
        ],
    ),
    (
        "sports",
        "How many miles is a marathon?",
        "What's the length of a marathon in miles?",
        [("How many kilometers is a marathon?", "unit"), ("How many miles is a half marathon?", "number")],
    ),
    (
        "sports",
        "Is it better to run in the morning or in the evening?",
        "Morning or evening: when is running better?",
        [("Is it better to swim in the morning or in the evening?", "entity")],
    ),
    # ---- misc / daily life
    (
        "daily",
        "Set an alarm for 7 am tomorrow.",
        "Wake me up tomorrow at 7 in the morning.",
        [("Set an alarm for 7 pm tomorrow.", "unit"), ("Set an alarm for 6 am tomorrow.", "number")],
    ),
    (
        "daily",
        "Remind me to call Mom at 5 pm.",
        "At 5 pm, remind me to phone Mom.",
        [("Remind me to call Dad at 5 pm.", "entity"), ("Remind me not to call Mom at 5 pm.", "negation")],
    ),
    (
        "daily",
        "How do I get red wine out of a white carpet?",
        "How can I remove a red wine stain from a white carpet?",
        [("How do I get coffee out of a white carpet?", "entity")],
    ),
    (
        "daily",
        "Should I turn the thermostat up or down at night to save energy?",
        "To save energy at night, do I raise or lower the thermostat?",
        [("Should I turn the thermostat up or down in summer to save energy?", "entity")],
    ),
    (
        "daily",
        "Is it legal to turn right on red in New York City?",
        "Can you make a right turn on a red light in NYC legally?",
        [
            ("Is it legal to turn left on red in New York City?", "direction"),
            ("Is it legal to turn right on red in California?", "entity"),
        ],
    ),
    (
        "daily",
        "How much should I tip on a 60 dollar restaurant bill?",
        "What's a fair tip for a $60 restaurant check?",
        [("How much should I tip on a 160 dollar restaurant bill?", "number")],
    ),
    (
        "daily",
        "What is a good name for a female golden retriever puppy?",
        "Suggest names for a girl golden retriever puppy.",
        [("What is a good name for a male golden retriever puppy?", "entity")],
    ),
    (
        "daily",
        "Can dogs eat grapes?",
        "Are grapes safe for dogs to eat?",
        [("Can cats eat grapes?", "entity"), ("Can dogs eat blueberries?", "entity")],
    ),
    (
        "daily",
        "How often should I water a cactus?",
        "What's the right watering frequency for a cactus?",
        [("How often should I water a fern?", "entity")],
    ),
    (
        "daily",
        "What's the best way to learn Spanish in 6 months?",
        "How can I learn Spanish efficiently in six months?",
        [
            ("What's the best way to learn Spanish in 6 weeks?", "unit"),
            ("What's the best way to learn Portuguese in 6 months?", "entity"),
        ],
    ),
    (
        "daily",
        "Is it cheaper to drive or take the train from Boston to New York?",
        "Boston to New York: is driving or the train cheaper?",
        [("Is it faster to drive or take the train from Boston to New York?", "comparison")],
    ),
    (
        "daily",
        "Turn the living room lights on.",
        "Switch on the lights in the living room.",
        [("Turn the living room lights off.", "direction"), ("Turn the bedroom lights on.", "entity")],
    ),
    (
        "daily",
        "Increase the volume by 10 percent.",
        "Turn the volume up 10%.",
        [
            ("Decrease the volume by 10 percent.", "direction"),
            ("Increase the volume by 50 percent.", "number"),
        ],
    ),
    (
        "daily",
        "Which is healthier, brown rice or white rice?",
        "Is brown rice or white rice better for your health?",
        [("Which is cheaper, brown rice or white rice?", "comparison")],
    ),
    # ---- more buy/sell
    (
        "finance",
        "Should I buy gold as a hedge against inflation?",
        "Is purchasing gold a good hedge against inflation?",
        [("Should I sell gold as a hedge against inflation?", "buy_sell")],
    ),
    (
        "finance",
        "What are the fees to buy ETFs on Vanguard?",
        "How much does Vanguard charge to purchase ETFs?",
        [
            ("What are the fees to sell ETFs on Vanguard?", "buy_sell"),
            ("What are the fees to buy ETFs on Fidelity?", "entity"),
        ],
    ),
    (
        "shopping",
        "What's the best time of year to buy a used car?",
        "When in the year is it smartest to purchase a used car?",
        [("What's the best time of year to sell a used car?", "buy_sell")],
    ),
    (
        "finance",
        "Place a market order to buy 10 shares of NVDA.",
        "Buy 10 NVDA shares at market.",
        [
            ("Place a market order to sell 10 shares of NVDA.", "buy_sell"),
            ("Place a market order to buy 100 shares of NVDA.", "number"),
        ],
    ),
]


def light(a: str, n: int) -> str:
    """A near-verbatim repeat of ``a`` (casing, punctuation, filler, a contraction or a typo): the
    bulk of real cache traffic. One of seven edits, chosen by the group number."""
    k = n % 7
    if k == 0:
        return a.lower().rstrip("?.!")
    if k == 1:
        return "Quick question: " + a
    if k == 2:
        return a + " Thanks!"
    if k == 3:
        for old, new in (
            ("What is", "What's"),
            ("How do I", "How can I"),
            ("Is it", "Would it be"),
            ("Can I", "Could I"),
            ("What's", "What is"),
            ("How many", "how many"),
        ):
            if old in a:
                return a.replace(old, new, 1)
        return "Please tell me: " + a
    if k == 4:
        words = a.split()
        i = max(range(len(words)), key=lambda j: (sum(c.isalpha() for c in words[j]), -j))
        w = words[i]
        k = next(j for j in range(2, len(w) - 1) if w[j] != w[j + 1])  # swap two different letters
        words[i] = w[:k] + w[k + 1] + w[k] + w[k + 2 :]
        return " ".join(words)
    if k == 5:
        return "Hi, " + a
    return a.rstrip("?.!") + " pls"


def build() -> list[dict[str, str]]:
    pairs: list[dict[str, str]] = []
    for n, (domain, a, para, nears) in enumerate(GROUPS, start=1):
        split = "test" if n % 4 == 0 else "train"
        pairs.append(
            {
                "id": f"g{n:03d}-p",
                "domain": domain,
                "a": a,
                "b": para,
                "kind": "paraphrase",
                "style": "reworded",
                "split": split,
            }
        )
        pairs.append(
            {
                "id": f"g{n:03d}-l",
                "domain": domain,
                "a": a,
                "b": light(a, n),
                "kind": "paraphrase",
                "style": "light",
                "split": split,
            }
        )
        for k, (near, edit) in enumerate(nears, start=1):
            pairs.append(
                {
                    "id": f"g{n:03d}-n{k}",
                    "domain": domain,
                    "a": a,
                    "b": near,
                    "kind": "near_miss",
                    "edit": edit,
                    "split": split,
                }
            )
    return pairs


def main() -> None:
    out = Path(__file__).with_name("pairs.jsonl")
    with out.open("w", encoding="utf-8") as f:
        for p in build():
            f.write(json.dumps(p, ensure_ascii=False) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
